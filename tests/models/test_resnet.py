import keras
import numpy as np
import pytest

from dranet_keras.choices import DEPTHS, RESNET_BLOCKS
from dranet_keras.models import resnet, resnet50
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


@pytest.mark.parametrize("depth, blocks", [(14, (1, 1, 1, 1)), (26, (2, 2, 2, 2))])
def test_small_depths_have_their_blocks_per_stage_and_the_same_output(depth, blocks):
    model = resnet(SHAPE, depth=depth, last_stride=1)
    assert model.name == f"resnet{depth}" and RESNET_BLOCKS[depth] == blocks
    for stage, count in zip(("conv2", "conv3", "conv4", "conv5"), blocks):
        assert sum(layer.name.startswith(f"{stage}_block") and layer.name.endswith("_out") for layer in model.layers) == count
    conv_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(conv_layers) == 1 + 3 * sum(blocks) + 4 == depth - 1 + 4  # stem, 3 per block, 4 shortcuts
    assert model.output_shape == (None, 4, 2, 2048)  # as ResNet50's: the heads see the same map


def test_depth_50_is_resnet50_and_other_depths_are_refused():
    assert [layer.name for layer in resnet(SHAPE, depth=50).layers] == [layer.name for layer in resnet50(SHAPE).layers]
    assert DEPTHS == (14, 26, 50, 101, 152)
    with pytest.raises(ValueError, match=r"depth must be one of \[14, 26, 50, 101, 152\], got 18"):
        resnet(SHAPE, depth=18)


@pytest.mark.parametrize("depth", [14, 26])
def test_imagenet_weights_for_a_depth_without_them_is_one_clear_line(depth):
    with pytest.raises(WeightsUnavailableError, match=f"no ImageNet weights for a ResNet{depth}") as raised:
        resnet(SHAPE, depth=depth, weights="imagenet")
    assert "\n" not in str(raised.value) and "[50, 101, 152]" in str(raised.value)


def test_layer_names_and_weight_shapes_match_keras_applications(reference):
    ours = resnet50(SHAPE, last_stride=1)
    ours_shapes = {layer.name: [w.shape for w in layer.weights] for layer in ours.layers if layer.weights}
    reference_shapes = {layer.name: [w.shape for w in layer.weights] for layer in reference.layers if layer.weights}
    assert ours_shapes == reference_shapes


def test_depth_101_layer_names_and_weight_shapes_match_keras_applications():
    """So ImageNet ResNet101 (and ResNet152, built by the same keras.applications code) weights transfer by name."""
    ours = resnet(SHAPE, depth=101)
    reference = keras.applications.ResNet101(include_top=False, weights=None, input_shape=SHAPE)
    ours_shapes = {layer.name: [w.shape for w in layer.weights] for layer in ours.layers if layer.weights}
    assert ours_shapes == {layer.name: [w.shape for w in layer.weights] for layer in reference.layers if layer.weights}


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
