# RMSProp with step decay, for a total batch of 1024: MobileNetV3's
# practical GPU schedule, the numbers of mmpretrain's
# mobilenet-v3-large_8xb128_in1k (from torchvision's MobileNetV3 recipe):
# lr 0.064, alpha 0.9, momentum 0.9, eps 0.0316, weight decay 1e-5, lr x0.973
# every 2 epochs, 600 epochs. The paper (Howard et al. 2019, Sec. 6.1) uses
# RMSProp 0.9 momentum, lr 0.1 for batch 4096 on a TPU pod, decay 0.01 every
# 3 epochs -- TPU-specific, so not reproduced here.
from mmengine.optim import OptimWrapper, StepLR
from torch.optim import RMSprop

max_epochs = 600

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=RMSprop, lr=0.064, alpha=0.9, momentum=0.9,
                   eps=0.0316, weight_decay=1e-5),
)

param_scheduler = [
    dict(type=StepLR, by_epoch=True, step_size=2, gamma=0.973),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Scale the learning rate linearly when the real total batch differs.
auto_scale_lr = dict(base_batch_size=1024, enable=True)
