"""The memory format each family trains in by default: measured, not
guessed.

``tools/train.py`` (``--memory-format auto``, the default) looks the
config's backbone type up in :data:`TRAIN_MEMORY_FORMAT`; a family is
trained in channels_last only where the whole training iteration was
measured faster that way, and contiguous otherwise (also for a backbone
not measured yet). ``--memory-format channels_last|contiguous`` or the
config key ``memory_format`` overrides it.

How the numbers were measured (``speedup`` = contiguous step time /
channels_last step time, median of interleaved steps, >1: channels_last
is faster)::

    OMP_WAIT_POLICY=PASSIVE python tools/analysis/train_speed.py \\
        configs/<family>.py --against self --batch-size 8 --shape 160

i.e. our full classifier's ``train_step`` (data preprocessor, backbone,
neck, head, Mixup, label-smoothing loss, SGD step), batch 8 at 160x160,
2 threads, fp32 eager, the same in-memory batches for both formats.
Machine: AMD EPYC, 2 cores, AVX-512 with AVX512_BF16 (torch 2.14.1 CPU),
shared with 7 other jobs (load average 5-10): ratios within +-5% of 1 are
noise and the family stays contiguous (the threshold below).
"""
from typing import Dict, NamedTuple, Optional


class Measured(NamedTuple):
    """One family's decision and the measurement behind it."""
    memory_format: str
    speedup: float  # contiguous / channels_last median step time
    variant: str  # the config measured
    fastest_speedup: float = float('nan')  # the same, of the fastest steps
    load: float = float('nan')  # 1-minute load average at the start


#: channels_last must be at least this much faster to be the default
#: (below it the difference is within the noise of the shared machine).
THRESHOLD = 1.05

#: Registry type -> measurement (see the module doc for the command; the
#: decision follows the median ratio; 5 interleaved steps each after 1
#: warm-up, 2026-12-01, under load 14-20: re-measure on a quiet machine).
TRAIN_MEMORY_FORMAT: Dict[str, Measured] = {
    'ResNet': Measured('channels_last', 1.26, 'configs/resnet.py', 0.64,
                       16.9),
    'MobileNetV2': Measured('channels_last', 1.18, 'configs/mobilenet_v2.py',
                            1.62, 20.2),
    'EfficientNet': Measured('channels_last', 3.30, 'configs/efficientnet.py',
                             1.67, 17.7),
    'ShuffleNetV2': Measured('channels_last', 1.09,
                             'configs/shufflenet_v2.py', 1.10, 14.2),
    'MobileNetV3': Measured('channels_last', 1.30, 'configs/mobilenet_v3.py',
                            1.25, 13.7),
    'ShuffleNetV1': Measured('channels_last', 1.13,
                             'configs/shufflenet_v1.py', 2.58, 15.5),
    'DenseNet': Measured('channels_last', 1.37, 'configs/densenet.py', 1.11,
                         13.3),
    'ResNeXt': Measured('channels_last', 1.26, 'configs/resnext.py', 0.64,
                        15.3),
    'SEResNet': Measured('channels_last', 1.17, 'configs/seresnet.py', 1.24,
                         9.7),
    'MobileNetV1': Measured('channels_last', 1.30, 'configs/mobilenet_v1.py',
                            1.26, 13.3),
    'SqueezeNet': Measured('channels_last', 1.28, 'configs/squeezenet.py',
                           1.19, 9.8),
    # Within the noise: stays contiguous.
    'ResNetV2': Measured('contiguous', 1.01, 'configs/resnet_v2.py', 1.09,
                         10.5),
    # Slower in channels_last (median and fastest steps): stays contiguous.
    'RepVGG': Measured('contiguous', 0.68, 'configs/repvgg.py', 0.83, 14.9),
    'VoVNet': Measured('contiguous', 0.90, 'configs/vovnet.py', 1.01, 10.0),
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
