"""``lzsc train``: FNet's stage I (eq. 25), stage II (eq. 26) or both, CSC-IVFN, or DAE-Fuse, with the
``quick`` or ``paper`` profile.

``--method fnet`` (the default) trains FNet (:mod:`lzsc.training.trainer`); ``--method csc-ivfn`` trains
the CSC paper's CSC-IVFN as released (:mod:`lzsc.training.csc_ivfn`) into ``runs/csc-ivfn-PROFILE/``;
``--method dae-fuse`` trains DAE-Fuse's two phases (:mod:`lzsc.training.dae_fuse`) into
``runs/dae-fuse-PROFILE/``. FNet's ``--stage``, ``--init`` and ``--backend`` apply to FNet only,
``--epochs`` to CSC-IVFN only; DAE-Fuse counts its phases' steps with ``--set phase1_steps=N``.

Examples::

    lzsc train --stage both --profile quick                  # runs/quick/stage1, runs/quick/stage2
    lzsc train --stage 1 --profile paper --device cuda       # runs/paper/stage1
    lzsc train --stage 2 --profile paper --init runs/paper/stage1/stage1.pt
    lzsc train --stage 1 --profile paper --resume --steps 30000
    lzsc train --stage 1 --profile paper --resume --set lr=1e-5       # after a divergence (exit 1)
    lzsc train --stage both --profile quick --set n_iter=2 --set w_ssim=0    # ablations (AE9, AE15)
    torchrun --standalone --nproc_per_node 4 -m lzsc train --profile paper   # DDP on 4 GPUs
    lzsc train --method csc-ivfn --profile quick                 # runs/csc-ivfn-quick, about a minute
    lzsc train --method csc-ivfn --profile paper                 # the release's 60 epochs on FLIR (CPU)
    lzsc train --method csc-ivfn --profile paper --resume        # continue after Ctrl-C or a crash
    lzsc train --method dae-fuse --profile quick                 # runs/dae-fuse-quick, under 3 minutes
    lzsc train --method dae-fuse --profile paper                 # CUDA; estimated < 10 min on an H200

Introduced in ``notebooks/06_train_stage1.ipynb`` and ``notebooks/07_train_stage2.ipynb``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..paths import data_root
from ..profiles import PROFILES
from . import add_backend_option, add_set_option

#: The paper profile's measured wall-time estimate (lzsc.training.csc_ivfn_config.PAPER), for --help.
CSC_PAPER_ESTIMATE = "6.5-8 hours"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train FNet (stage I with IFNet, stage II fusion, or both), CSC-IVFN or DAE-Fuse",
        description="Two-stage training of FNet (paper eqs. 25-26), results loadable with "
        "`lzsc fuse --checkpoint OUT/stage2.pt`; or, with --method csc-ivfn, CSC-IVFN's autoencoder "
        "training as released (FLIR, 60 epochs; the paper profile takes about "
        f"{CSC_PAPER_ESTIMATE} on a 2-core CPU), result OUT/csc_ivfn.pt; or, with --method dae-fuse, "
        "DAE-Fuse's autoencoder and fusion phases (paper profile: CUDA), result OUT/dae_fuse.pt.",
    )
    p.add_argument(
        "--method",
        choices=("fnet", "csc-ivfn", "dae-fuse"),
        default="fnet",
        help="network to train (default fnet); csc-ivfn and dae-fuse refuse --stage, --init and --backend",
    )
    p.add_argument("--stage", choices=("1", "2", "both"), help="FNet: which stage(s) to run (default both)")
    p.add_argument("--profile", choices=PROFILES, default="quick", help="settings preset")
    p.add_argument(
        "--steps",
        type=int,
        help="FNet: steps per stage; CSC-IVFN: stop after this many steps in all (with --resume: the total)",
    )
    p.add_argument("--epochs", type=int, help="CSC-IVFN: passes over the images (paper: 60)")
    p.add_argument(
        "--data",
        help="FNet: MSRS | RoadScene (under $LZSC_DATA/train) | a folder of pairs | synthetic (default: the "
        "profile's, or synthetic when LZSC_DATA is not set); CSC-IVFN: FLIR (default) | a folder holding "
        "ir/ and vi/ | a folder of images; DAE-Fuse: as FNet",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default runs/PROFILE, stages in stage1/ stage2/; CSC-IVFN / DAE-Fuse: "
        "runs/csc-ivfn-PROFILE / runs/dae-fuse-PROFILE)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the output folder's checkpoint (without one: start at step 0, with a notice); "
        "--set lr=VALUE may change the learning rate, e.g. after a divergence",
    )
    p.add_argument(
        "--init", help="stage II: the stage-I result (default OUT/../stage1/stage1.pt) or 'official'"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override the profile's device")
    add_backend_option(p, default=None)
    add_set_option(
        p,
        "override any setting (FNet: TrainConfig, e.g. --set n_iter=2; CSC-IVFN: CSCTrainConfig, "
        "e.g. --set crop=64 --set lr_decay_epoch=none; DAE-Fuse: DAETrainConfig, e.g. --set phase2_steps=500 "
        "--set channels=32) (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    from ..training.profiles import CPU_PATH, apply_overrides, profile

    config = apply_overrides(profile(args.profile), args.overrides)
    changes = {}
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.device is not None:
        changes["device"] = args.device
    if args.device == "cpu":  # the CPU's path for a GPU profile, but what --set gave explicitly
        given = {item.partition("=")[0].strip() for item in args.overrides}
        changes.update({k: v for k, v in CPU_PATH.items() if k not in given})
    if args.backend is not None:
        changes["backend"] = args.backend
    if args.data is not None:
        changes["data"] = args.data
    elif data_root() is None and config.data != "synthetic":
        print(
            f"LZSC_DATA is not set: training on synthetic pairs instead of {config.data} "
            "(set LZSC_DATA or pass --data to use real images)"
        )
        changes["data"] = "synthetic"
    return replace(config, **changes)


def _refuse_fnet_options(args: argparse.Namespace, name: str, what: str) -> bool:
    """Print an error and return True when FNet's two-stage options were given to method ``name``."""
    given = [
        option
        for option, value in (("--stage", args.stage), ("--init", args.init), ("--backend", args.backend))
        if value is not None
    ]
    if given:
        print(
            f"error: {', '.join(given)} {'is an option' if len(given) == 1 else 'are options'} of FNet's "
            f"two-stage training; {name} {what} (drop them, or use --method fnet)",
            file=sys.stderr,
        )
    return bool(given)


def _train_one(args: argparse.Namespace, name: str, config, train) -> int:
    """Check ``config``'s device, run ``train(config, out, resume, progress)`` into ``--out`` (default
    ``runs/NAME-PROFILE``) and print the summary; 2 for a device that is not there, 1 for divergence."""
    from ..training.trainer import resolve_device

    try:
        resolve_device(config.device)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else Path("runs") / f"{name}-{args.profile}"
    try:
        result = train(config, out, args.resume, progress=not args.no_progress)
    except FloatingPointError as err:  # DivergenceError: the message holds the advice
        print(f"error: {err}", file=sys.stderr)
        return 1
    first, last = result.first, result.last
    if not last:
        losses = ""
    elif "phase" in last:
        losses = f"; last step (phase {int(last['phase'])}): loss {last['loss']:.4g}"
    else:
        losses = (
            f"; loss {first['loss']:.4g} (first step run) -> {last['loss']:.4g} "
            f"(last; mse {last['mse']:.4g}, ssim term {last['ssim']:.4g})"
        )
    print(
        f"{name}: step {result.step} of {result.total_steps} ({result.steps_run} run in "
        f"{result.seconds:.1f} s){losses}; result {result.result_path}"
    )
    return 0


def run_csc_ivfn(args: argparse.Namespace) -> int:
    """``--method csc-ivfn``: :func:`lzsc.training.csc_ivfn.train_csc_ivfn` with the profile and options."""
    if _refuse_fnet_options(args, "CSC-IVFN", "trains one autoencoder in one run"):
        return 2
    from ..training.csc_ivfn import apply_csc_overrides, csc_profile, train_csc_ivfn

    config = apply_csc_overrides(csc_profile(args.profile), args.overrides)
    changes = {
        key: value
        for key, value in (("steps", args.steps), ("epochs", args.epochs), ("device", args.device))
        if value is not None
    }
    if args.data is not None:
        changes["data"] = args.data
    return _train_one(args, "csc-ivfn", config.with_overrides(**changes), train_csc_ivfn)


def run_dae_fuse(args: argparse.Namespace) -> int:
    """``--method dae-fuse``: :func:`lzsc.training.dae_fuse.train_dae_fuse` with the profile and options."""
    if _refuse_fnet_options(args, "DAE-Fuse", "trains both of its phases in one run"):
        return 2
    if args.steps is not None or args.epochs is not None:
        print(
            "error: DAE-Fuse counts the steps of each phase: use --set phase1_steps=N --set phase2_steps=M "
            "instead of --steps / --epochs",
            file=sys.stderr,
        )
        return 2
    from ..training.dae_fuse import apply_dae_overrides, dae_profile, train_dae_fuse

    config = apply_dae_overrides(dae_profile(args.profile), args.overrides)
    changes = {"device": args.device} if args.device is not None else {}
    if args.data is not None:
        changes["data"] = args.data
    elif data_root() is None and config.data != "synthetic":
        print(
            f"LZSC_DATA is not set: training on synthetic pairs instead of {config.data} "
            "(set LZSC_DATA or pass --data to use real images)"
        )
        changes["data"] = "synthetic"
    return _train_one(args, "dae-fuse", config.with_overrides(**changes), train_dae_fuse)


def run(args: argparse.Namespace) -> int:
    if args.method == "csc-ivfn":
        return run_csc_ivfn(args)
    if args.method == "dae-fuse":
        return run_dae_fuse(args)
    if args.epochs is not None:
        print("error: --epochs is for --method csc-ivfn; FNet counts steps (--steps)", file=sys.stderr)
        return 2
    if args.stage is None:
        args.stage = "both"
    from ..training.distributed import context, shutdown
    from ..training.trainer import resolve_device

    try:
        config = _config(args)
        dist = context(resolve_device(config.device).type)
        dist.shard(config.batch_size)  # a batch that does not split over the ranks fails before any work
    except (RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        return _run_fnet(args, config, dist.main)
    finally:
        shutdown()


def _run_fnet(args: argparse.Namespace, config, main: bool) -> int:
    """FNet's stages; under torchrun every rank runs this and rank 0 (``main``) prints."""
    from ..training import build_dataset, train

    if args.init is not None and (args.stage == "1" or config.skip_stage1):
        print(
            "error: --init is the stage-I result that stage II starts from; it does not apply to "
            "--stage 1, nor with --set skip_stage1=true (stage II from scratch)",
            file=sys.stderr,
        )
        return 2
    base = args.out if args.out is not None else Path("runs") / args.profile
    stages = (1, 2) if args.stage == "both" else (int(args.stage),)
    if args.stage == "both" and config.skip_stage1:
        stages = (2,)
    single = args.stage != "both" and args.out is not None
    try:
        data = build_dataset(config)
        init = args.init
        for stage in stages:
            out = base if single else base / f"stage{stage}"
            if stage == 2 and init is None and not config.skip_stage1:
                candidate = out.parent / "stage1" / "stage1.pt"
                if not candidate.is_file() and not (out / "checkpoint.pt").is_file():
                    print(
                        f"error: stage II needs the stage-I result: pass --init (no {candidate})",
                        file=sys.stderr,
                    )
                    return 2
                init = str(candidate)
            stage_init = init if stage == 2 and not config.skip_stage1 else None
            result = train(
                replace(config, stage=stage),
                data,
                out,
                args.resume,
                stage_init,
                progress=not args.no_progress,
            )
            losses = ", ".join(f"{k} {v:.4g}" for k, v in result.last.items())
            speed = f", {result.images_per_s:.3g} images/s" if result.steps_run else ""
            if main:
                print(
                    f"stage {stage}: step {result.step} ({result.steps_run} run in {result.seconds:.1f} s"
                    f"{speed}){'; last step: ' + losses if losses else ''}; result {result.result_path}"
                )
    except FloatingPointError as err:  # DivergenceError: the message holds the advice
        if main:
            print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
