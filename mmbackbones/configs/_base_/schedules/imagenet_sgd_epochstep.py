# SGD with the learning rate decayed by 0.98 every epoch, for a total batch
# of 256: MobileNetV2's schedule (Sandler et al. 2018, Sec. 6.1: initial lr
# 0.045, decay 0.98 per epoch, weight decay 4e-5) with SGD instead of the
# paper's RMSProp, as mmpretrain trains it (mobilenet-v2_8xb32_in1k).
from mmengine.optim import OptimWrapper, StepLR
from torch.optim import SGD

max_epochs = 300

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=SGD, lr=0.045, momentum=0.9, weight_decay=4e-5),
)

param_scheduler = [
    dict(type=StepLR, by_epoch=True, step_size=1, gamma=0.98),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Scale the learning rate linearly when the real total batch differs.
auto_scale_lr = dict(base_batch_size=256, enable=True)
