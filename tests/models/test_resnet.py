import keras
import numpy as np
import pytest

from dranet_keras.models import resnet50
from dranet_keras.models.resnet import ImageNetNormalization, WeightsUnavailableError, transfer_weights

SHAPE = (64, 32, 3)


@pytest.fixture(scope="module")
def reference():
    """A keras.applications ResNet50 with random (weights=None) parameters."""
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(include_top=False, weights=None, input_shape=SHAPE)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(2, *SHAPE)).astype("float32")


def test_output_resolution_follows_last_stride():
    assert resnet50((256, 128, 3), last_stride=1).output_shape == (None, 16, 8, 2048)
    assert resnet50((256, 128, 3), last_stride=2).output_shape == (None, 8, 4, 2048)


def test_layer_names_and_weight_shapes_match_keras_applications(reference):
    ours = resnet50(SHAPE, last_stride=1)
    ours_shapes = {layer.name: [w.shape for w in layer.weights] for layer in ours.layers if layer.weights}
    reference_shapes = {layer.name: [w.shape for w in layer.weights] for layer in reference.layers if layer.weights}
    assert ours_shapes == reference_shapes


def test_transfer_gives_the_same_function_when_strides_match(reference, images):
    ours = resnet50(SHAPE, last_stride=2)
    assert transfer_weights(reference, ours) == 106  # 53 conv + 53 batch-norm layers
    np.testing.assert_allclose(ours(images), reference(images), rtol=1e-5, atol=1e-5)


def test_weights_from_a_keras_applications_h5_file(reference, images, tmp_path):
    path = tmp_path / "resnet50_notop.h5"
    reference.save(path)  # legacy HDF5, like the published no-top weights file
    ours = resnet50(SHAPE, last_stride=2, weights=str(path))
    np.testing.assert_allclose(ours(images), reference(images), rtol=1e-5, atol=1e-5)


def test_weights_from_our_own_weights_file(images, tmp_path):
    source = resnet50(SHAPE, last_stride=1)
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    loaded = resnet50(SHAPE, last_stride=1, weights=str(path))
    np.testing.assert_allclose(loaded(images), source(images), rtol=1e-6, atol=1e-6)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="missing.h5 does not exist"):
        resnet50(SHAPE, weights=str(tmp_path / "missing.h5"))


def test_failed_imagenet_download_tells_the_user_what_to_do(monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3]")

    monkeypatch.setattr(keras.applications, "ResNet50", offline)
    with pytest.raises(WeightsUnavailableError, match="pass its path"):
        resnet50(SHAPE, weights="imagenet")


def test_normalisation_is_the_caffe_preprocessing_of_keras_applications():
    rgb = np.random.default_rng(1).uniform(0, 255, size=(2, 4, 4, 3)).astype("float32")
    expected = rgb[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    np.testing.assert_allclose(ImageNetNormalization()(rgb), expected, rtol=1e-6)
    np.testing.assert_allclose(
        keras.applications.resnet50.preprocess_input(rgb.copy()), expected, rtol=1e-6, atol=1e-4
    )
