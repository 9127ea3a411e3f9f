"""The memory format each family trains in by default: measured, not
guessed.

``tools/train.py`` (``--memory-format auto``, the default) looks the
config's backbone type up in :data:`TRAIN_MEMORY_FORMAT`; a family is
trained in channels_last only where the whole training iteration was
measured faster that way, and contiguous otherwise (also for a backbone
not measured yet). ``--memory-format channels_last|contiguous`` or the
config key ``memory_format`` overrides it.

How the numbers were measured (``speedup`` = contiguous step time /
channels_last step time, >1: channels_last is faster)::

    OMP_WAIT_POLICY=PASSIVE python tools/analysis/train_speed.py \\
        configs/<family>.py --against self --memory-format channels_last \\
        --batch-size 8 --shape 160 --rounds 5 --warmup 1

i.e. our full classifier's ``train_step`` (data preprocessor, backbone,
neck, head, Mixup, label-smoothing loss, SGD step), batch 8, 2 threads,
fp32 eager, the same in-memory batches for both formats, interleaved in
one process. Shape 160 px except GoogLeNet (224) and Inception v3 (299),
whose auxiliary heads need those sizes. Machine: AMD EPYC, 2 cores,
AVX-512 with AVX512_BF16 (torch 2.14.1 CPU), 2026-12-01, session 3: the
load average recorded with each row (1.0-1.2: quiet; 5-7: other jobs
running at nice 19). Families whose first ratio was within the noise were
measured again with ``--rounds 10 --warmup 2`` (the ``rounds`` field).

The rule: channels_last where both the median-step and the fastest-step
ratio are at least :data:`THRESHOLD`; below that, within the noise or
slower, the family stays contiguous.
"""
from typing import Dict, NamedTuple, Optional


class Measured(NamedTuple):
    """One family's decision and the measurement behind it."""
    memory_format: str
    speedup: float  # contiguous / channels_last, median step time
    fastest_speedup: float  # the same, of the fastest steps
    variant: str  # the config measured
    shape: int = 160  # input size (px)
    rounds: int = 5  # interleaved steps per format
    load: float = float('nan')  # 1-minute load average at the start

    @property
    def decisive(self) -> float:
        """The ratio the decision follows: the smaller of the two."""
        return min(self.speedup, self.fastest_speedup)


#: channels_last must be at least this much faster, by the median and by
#: the fastest steps, to be the default.
THRESHOLD = 1.05

#: Registry type -> measurement (see the module doc for the command).
TRAIN_MEMORY_FORMAT: Dict[str, Measured] = {
    'BNInception': Measured(
        'channels_last', 1.246, 1.172,
        'configs/bn_inception.py', 160, 5, 6.4),
    'CSPDarkNet': Measured(
        'channels_last', 1.116, 1.148,
        'configs/cspnet.py', 160, 5, 6.4),
    'DenseNet': Measured(
        'channels_last', 1.149, 1.164,
        'configs/densenet.py', 160, 10, 6.9),
    'EfficientNet': Measured(
        'channels_last', 1.203, 1.169,
        'configs/efficientnet.py', 160, 10, 4.8),
    'GoogLeNet': Measured(
        'channels_last', 1.229, 1.275,
        'configs/googlenet.py', 224, 5, 6.2),
    'HRNet': Measured(
        'channels_last', 1.237, 1.281,
        'configs/hrnet.py', 160, 5, 6.3),
    'InceptionV3': Measured(
        'channels_last', 1.282, 1.225,
        'configs/inception_v3.py', 299, 5, 6.4),
    'InceptionV4': Measured(
        'channels_last', 1.074, 1.087,
        'configs/inception_v4.py', 160, 10, 7.3),
    'MobileNetV1': Measured(
        'channels_last', 1.286, 1.336,
        'configs/mobilenet_v1.py', 160, 5, 6.4),
    'MobileNetV2': Measured(
        'channels_last', 1.339, 1.334,
        'configs/mobilenet_v2.py', 160, 5, 6.9),
    'MobileNetV3': Measured(
        'channels_last', 1.327, 1.089,
        'configs/mobilenet_v3.py', 160, 5, 6.7),
    'Res2Net': Measured(
        'channels_last', 1.089, 1.153,
        'configs/res2net.py', 160, 5, 1.2),
    'ResNeXt': Measured(
        'channels_last', 1.173, 1.235,
        'configs/resnext.py', 160, 5, 1.2),
    'ResNet': Measured(
        'channels_last', 1.167, 1.130,
        'configs/resnet.py', 160, 5, 1.0),
    'ResNetV2': Measured(
        'channels_last', 1.052, 1.140,
        'configs/resnet_v2.py', 160, 10, 6.7),
    'SEResNet': Measured(
        'channels_last', 1.142, 1.103,
        'configs/seresnet.py', 160, 5, 1.1),
    # Session 5, after its channel shuffle kept channels_last (it returned
    # a contiguous tensor every unit; before: 1.248x / 1.234x, load 6.6).
    'ShuffleNetV1': Measured(
        'channels_last', 1.243, 1.385,
        'configs/shufflenet_v1.py', 160, 10, 1.1),
    'SqueezeNet': Measured(
        'channels_last', 1.494, 1.374,
        'configs/squeezenet.py', 160, 5, 6.1),
    # Session 4, after its unit's concat-then-shuffle became one copy that
    # keeps channels_last (``layers.concat_shuffle``; before: 0.98x / 1.01x,
    # the two-step shuffle returned a contiguous tensor every unit).
    'ShuffleNetV2': Measured(
        'channels_last', 1.132, 1.051,
        'configs/shufflenet_v2.py', 160, 30, 1.1),
    'VGG': Measured(
        'channels_last', 1.115, 1.128,
        'configs/vgg.py', 160, 5, 7.1),
    'VoVNet': Measured(
        'channels_last', 1.147, 1.101,
        'configs/vovnet.py', 160, 10, 6.5),
    # Session 5, 20 steps each on a quiet machine. ResNeSt after its split
    # sum kept channels_last (before: 1.064x / 1.020x, contiguous; the
    # first 10-step runs after the change gave 1.067x / 1.034x and 1.048x
    # / 0.999x). RepVGG unchanged (10 steps at load 6.6: 1.102x / 1.045x).
    'ResNeSt': Measured(
        'channels_last', 1.070, 1.107,
        'configs/resnest.py', 160, 20, 1.4),
    'RepVGG': Measured(
        'channels_last', 1.093, 1.100,
        'configs/repvgg.py', 160, 20, 1.4),
    # Within the noise or slower in channels_last: stays contiguous.
    'Darknet': Measured(
        'contiguous', 1.043, 1.068,
        'configs/darknet.py', 160, 10, 5.1),
    'InceptionResNetV2': Measured(
        'contiguous', 1.031, 1.056,
        'configs/inception_resnet_v2.py', 160, 10, 6.0),
}


def measured_format(backbone_type: str) -> Optional[Measured]:
    """The measurement for a backbone registry type (``'ResNet'``,
    ``'mmbackbones.models.ResNet'`` or the class), or None."""
    name = backbone_type if isinstance(backbone_type, str) else getattr(
        backbone_type, '__name__', str(backbone_type))
    return TRAIN_MEMORY_FORMAT.get(name.split('.')[-1])


def fastest_memory_format(backbone_type) -> str:
    """``'channels_last'`` where it was measured faster (by at least
    :data:`THRESHOLD`) for this backbone type, else ``'contiguous'``."""
    found = measured_format(backbone_type)
    if found is None:
        return 'contiguous'
    return found.memory_format
