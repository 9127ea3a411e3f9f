# SGD with linear warm-up then cosine decay, for a total batch of 1024.
# Leaf configs override lr, epochs and weight decay for their family.
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper
from torch.optim import SGD

max_epochs = 300
warmup_epochs = 5

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=SGD, lr=0.5, momentum=0.9, weight_decay=4e-5,
                   nesterov=True),
    # No weight decay on norm layers (their scale is not a capacity knob).
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
)

param_scheduler = [
    dict(type=LinearLR, start_factor=0.01, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type=CosineAnnealingLR, eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Scale the learning rate linearly when the real total batch differs.
auto_scale_lr = dict(base_batch_size=1024, enable=True)
