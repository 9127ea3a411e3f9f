# EfficientNet's schedule (Tan & Le 2019, Sec. 5.2), for a total batch of
# 1024: RMSProp (decay 0.9, momentum 0.9), weight decay 1e-5, 350 epochs,
# lr 0.256 for the paper's batch 4096 -> 0.064 here (linear scaling), 5
# warm-up epochs (the official code's), then x0.97 every 2.4 epochs --
# applied smoothly per epoch (0.97 ** (1 / 2.4)), not as a staircase.
# torch's RMSprop adds eps outside the square root, TensorFlow inside:
# eps 0.0316 here is TF's 1e-3.
from mmengine.optim import ExponentialLR, LinearLR, OptimWrapper
from torch.optim import RMSprop

max_epochs = 350
warmup_epochs = 5

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=RMSprop, lr=0.064, alpha=0.9, momentum=0.9,
                   eps=0.0316, weight_decay=1e-5),
    # No weight decay on norm layers and biases.
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
)

param_scheduler = [
    dict(type=LinearLR, start_factor=0.01, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type=ExponentialLR, gamma=0.97**(1 / 2.4), by_epoch=True,
         begin=warmup_epochs, end=max_epochs),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# Scale the learning rate linearly when the real total batch differs.
auto_scale_lr = dict(base_batch_size=1024, enable=True)
