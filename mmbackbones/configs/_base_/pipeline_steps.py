# Edit a data pipeline by step type, never by list index (an index silently
# edits the wrong step once a base config gains or loses one). A leaf config
# imports the functions with its bases and deletes them after use (a
# function is not a config value: the Runner could not save the config):
#
#     with read_base():
#         from ..mobilenet_v1 import *  # noqa: F401,F403
#         from .._base_.pipeline_steps import update_step
#
#     update_step(train_dataloader.dataset.pipeline, 'RandomResizedCrop',
#                 scale=128)
#     del update_step


def step_type_name(step_type):
    """'CenterCrop' for the class, its lazy import in a config, or a
    dotted name such as 'mmpretrain.datasets.CenterCrop'."""
    name = (getattr(step_type, '_imported', None)
            or getattr(step_type, '__name__', None) or str(step_type))
    return name.split('.')[-1]


def find_step(pipeline, step_type):
    """The index of the one step of ``step_type`` in ``pipeline``; a
    ValueError naming the step types there when it has none or several."""
    wanted = step_type_name(step_type)
    names = [step_type_name(step['type']) for step in pipeline]
    if names.count(wanted) != 1:
        raise ValueError(f'the pipeline has {names.count(wanted)} '
                         f'{wanted} steps, not one; its steps: {names}')
    return names.index(wanted)


def update_step(pipeline, step_type, **changes):
    """Update, in place, the arguments of the pipeline's ``step_type``
    step, e.g. ``update_step(pipeline, 'CenterCrop', crop_size=128)``."""
    pipeline[find_step(pipeline, step_type)].update(changes)
    return pipeline


def insert_before(pipeline, step_type, step):
    """Insert ``step`` before the pipeline's ``step_type`` step, in place,
    e.g. ``insert_before(pipeline, 'PackInputs', dict(type=AutoAugment))``."""
    pipeline.insert(find_step(pipeline, step_type), step)
    return pipeline
