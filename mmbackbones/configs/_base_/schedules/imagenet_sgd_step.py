# SGD with step decay, for a total batch of 256: the classic ImageNet
# schedule of ResNet (He et al. 2016) and DenseNet (Huang et al. 2017,
# Sec. 4.2): 90 epochs, lr 0.1 divided by 10 at epochs 30 and 60, weight
# decay 1e-4 on every parameter, Nesterov momentum 0.9.
from mmengine.optim import MultiStepLR, OptimWrapper
from torch.optim import SGD

max_epochs = 90

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=SGD, lr=0.1, momentum=0.9, weight_decay=1e-4,
                   nesterov=True),
)

param_scheduler = [
    dict(type=MultiStepLR, by_epoch=True, milestones=[30, 60], gamma=0.1),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Scale the learning rate linearly when the real total batch differs.
auto_scale_lr = dict(base_batch_size=256, enable=True)
