# Inception v3's schedule (Szegedy et al. 2016, Sec. 8): RMSProp with decay
# 0.9 and epsilon 1.0, lr 0.045 decayed x0.94 every 2 epochs, gradient
# clipping at 2.0. The paper trained asynchronously (50 replicas, batch 32
# each) for about 100 epochs; the lr is kept for a total batch of 1024
# here (auto_scale_lr scales it linearly from that). Momentum 0.9 as in
# the TF-slim training script and weight decay 4e-5 its default (neither
# stated in the paper; from memory, unchecked). torch's RMSprop
# adds eps outside the square root, TensorFlow inside: for eps 1.0 the two
# agree where the squared-gradient average is small.
from mmengine.optim import OptimWrapper, StepLR
from torch.optim import RMSprop

max_epochs = 100

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=RMSprop, lr=0.045, alpha=0.9, momentum=0.9,
                   eps=1.0, weight_decay=4e-5),
    clip_grad=dict(max_norm=2.0),
)

param_scheduler = [
    dict(type=StepLR, by_epoch=True, step_size=2, gamma=0.94),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Scale the learning rate linearly when the real total batch differs.
auto_scale_lr = dict(base_batch_size=1024, enable=True)
