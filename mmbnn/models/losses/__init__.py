from .distillation import logit_distillation_loss, rbd_loss, rbd_losses

__all__ = ['logit_distillation_loss', 'rbd_loss', 'rbd_losses']
