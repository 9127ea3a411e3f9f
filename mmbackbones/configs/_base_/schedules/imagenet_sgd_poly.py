# SGD with a polynomial learning-rate decay, for a total batch of 128: the
# Darknet framework's ImageNet classifier schedule, which YOLOv3's
# Darknet-53 and CSPNet's models (Wang et al. 2020, Sec. 4.1) were trained
# with -- lr 0.1, momentum 0.9, weight decay 5e-4, poly decay with power 4,
# 1000 warm-up iterations, batch 128, 800k iterations (80 epochs).
# Quoted from memory (darknet53.cfg / the CSPNet paper), unchecked offline.
from mmengine.optim import LinearLR, OptimWrapper, PolyLR
from torch.optim import SGD

max_epochs = 80

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=SGD, lr=0.1, momentum=0.9, weight_decay=5e-4),
)

param_scheduler = [
    dict(type=LinearLR, start_factor=0.001, by_epoch=False, begin=0,
         end=1000),
    dict(type=PolyLR, power=4.0, eta_min=0.0, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Scale the learning rate linearly when the real total batch differs.
auto_scale_lr = dict(base_batch_size=128, enable=True)
