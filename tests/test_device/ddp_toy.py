"""One rank of a DDP toy run (``test_ddp_devices.py`` starts it with
torchrun): the toy binary network trained by mmengine's Runner with the DTE
schedule, wrapped in ``MMDistributedDataParallel``, over ``nccl`` on a GPU
or ``gloo`` on the CPU. The main rank writes what the test checks to
``--out`` (JSON)."""
import argparse
import json
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--device', choices=['cpu', 'cuda'], required=True)
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    from mmengine.dist import is_main_process

    from mmbnn.engine.hooks import BinarySchedulerHook
    from mmbnn.models.layers import BinaryConv2d, binary_layers
    from mmbnn.utils.dist import close_distributed, unwrap_model
    from toy import toy_net, toy_runner

    backend = 'nccl' if args.device == 'cuda' else 'gloo'
    local_rank = int(os.environ['LOCAL_RANK'])
    if args.device == 'cuda':
        torch.cuda.set_device(local_rank)
    else:
        # mmengine's own start-up calls torch.cuda.set_device: start the
        # group here, as mmbnn's tools do on a CPU (init_cpu_distributed).
        import mmengine.runner.runner as runner_module
        runner_module.get_device = lambda: 'cpu'
        dist.init_process_group(backend='gloo')
    torch.manual_seed(0)
    model = toy_net(BinaryConv2d(3, 8, 3, padding=1),
                    BinaryConv2d(8, 8, 3, padding=1))
    wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                   find_unused_parameters=False,
                   device_ids=[local_rank] if args.device == 'cuda' else None)
    runner = toy_runner(args.work_dir, [BinarySchedulerHook('dte')],
                        model=model, epochs=2, name='ddp', launcher='pytorch',
                        env_cfg=dict(dist_cfg=dict(backend=backend)),
                        cfg=dict(model_wrapper_cfg=wrapper),
                        optimizer=dict(type='SGD', lr=0.1))
    runner.train()
    inner = unwrap_model(runner.model)
    result = dict(
        wrapper=type(runner.model).__name__,
        backend=dist.get_backend(), world_size=dist.get_world_size(),
        devices=sorted({p.device.type for p in inner.parameters()}),
        stages=[int(layer.stage) for _, layer in binary_layers(runner.model)],
        loss=float(runner.message_hub.get_scalar('train/loss').current()))
    if is_main_process():
        with open(args.out, 'w') as f:
            json.dump(result, f)
    close_distributed()


if __name__ == '__main__':
    main()
