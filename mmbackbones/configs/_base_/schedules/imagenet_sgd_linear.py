# ShuffleNet V1's schedule (Zhang et al. 2018, Sec. 4): SGD, total batch
# 1024, lr 0.5 decayed linearly to 0, weight decay 4e-5, 3e5 iterations
# (= 240 epochs of ImageNet-1k). A 5-epoch linear warm-up (ours) steadies the
# large-batch start; norm layers and biases get no weight decay.
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from torch.optim import SGD

max_epochs = 240
warmup_epochs = 5

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=SGD, lr=0.5, momentum=0.9, weight_decay=4e-5),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
)

param_scheduler = [
    dict(type=LinearLR, start_factor=0.01, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    # power 1: a straight line from lr to 0
    dict(type=PolyLR, power=1.0, eta_min=0.0, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

auto_scale_lr = dict(base_batch_size=1024, enable=True)
