"""Plot a training run's curves or its time per iteration (mmpretrain's
tool's names and behaviour)::

    python tools/analysis/analyze_logs.py plot_curve \
        work_dirs/shufflenet_v2_digits/*/vis_data/scalars.json \
        --keys loss accuracy/top1 --out curve.png
    python tools/analysis/analyze_logs.py cal_train_time \
        work_dirs/shufflenet_v2_digits

See ``mmbackbones/cli/analyze_logs.py``.
"""
from mmbackbones.cli.analyze_logs import cli

if __name__ == '__main__':
    cli()
