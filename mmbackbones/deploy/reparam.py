"""Structural re-parameterisation: the ``switch_to_deploy()`` protocol.

A re-parameterisable block (our RepVGG block, mmpretrain's RepVGG / MobileOne
blocks, mmyolo's...) has an idempotent ``switch_to_deploy()`` method that
replaces its training-time branches by their deploy form in place.
"""
from typing import List

import torch.nn as nn

#: The one method name every re-parameterisable block implements.
DEPLOY_METHOD = 'switch_to_deploy'


def _next_pending(model: nn.Module, done: List[nn.Module]):
    done_ids = {id(m) for m in done}
    for name, module in model.named_modules():
        if id(module) not in done_ids and callable(
                getattr(module, DEPLOY_METHOD, None)):
            return name, module
    return None, None


def reparameterize(model: nn.Module) -> List[str]:
    """Call ``switch_to_deploy()`` on every module of ``model`` that has it.

    Outer modules go first (a backbone's own ``switch_to_deploy`` converts
    its blocks the way its author intended); the walk restarts after each
    call, so modules that a call removed are never visited, and each module
    is called once.

    Returns:
        The names of the modules that were called ('' for ``model``).
    """
    done: List[nn.Module] = []  # references keep the ids unique
    names = []
    while True:
        name, module = _next_pending(model, done)
        if module is None:
            return names
        getattr(module, DEPLOY_METHOD)()
        done.append(module)
        names.append(name)
