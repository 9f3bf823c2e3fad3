"""The model variants of the ablation and the classification branches each one trains
(b: global baseline head, c: channel reverse attention, s: spatial reverse attention).

A leaf module (no Keras import) so that the configuration, the model and the report share
this one list.
"""

BRANCHES = {"baseline": ("b",), "cic": ("b", "c"), "sic": ("b", "s"), "dra": ("b", "c", "s")}
VARIANTS = tuple(BRANCHES)
