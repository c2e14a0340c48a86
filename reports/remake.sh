#!/usr/bin/env bash
# Remakes every record behind reports/leaderboard.md (toy benchmark: 500 samples against 5,000
# reference images, toy-featnet), then the reports. Records already in results/records are reused,
# so an interrupted remake resumes where it stopped. About 20 minutes on 2 idle CPU cores (21 min
# measured, 83 records); run it on an idle machine, since the images/s column and the FID-vs-speed
# plot are timed.
set -euo pipefail
cd "$(dirname "$0")/.."
TOY=(num_samples=500 eval.reference_images=5000)
# --quiet belongs to the subcommand, so it goes after it
bench() { python -m bench "$1" --quiet "${@:2}"; }

# the trivial baselines: the floor and the ceilings every toy model is read against
for baseline in toy-class-mean toy-shuffled-colour toy-kl-reconstruction toy-random-tokens; do
  bench run model="$baseline" "${TOY[@]}"
done

# MaskGIT family, mean and std over seeds 0-2: unguided and CFG 1, Halton, self-guidance
bench sweep model=toy-maskgit sweep.preset=sampler-steps sweep.guidance=[0,1] seeds=3 "${TOY[@]}"
bench sweep model=toy-maskgit sampler.name=halton sweep.preset=sampler-steps seeds=3 "${TOY[@]}"
bench sweep model=toy-unlockmgm sweep.preset=sampler-steps seeds=3 "${TOY[@]}"

# MAGE: unconditional samples, and the linear probe of its encoder (the probe's own defaults)
bench run model=toy-mage "${TOY[@]}"
bench run model=toy-mage task=linear-probe

# MUSE: caption accuracy over guidance
bench sweep model=toy-muse sweep.preset=muse-guidance "${TOY[@]}"

# continuous tokens: eMIGM's iterations x CFG interval, one weaker guidance point, MAR at two guidances
bench sweep model=toy-emigm sweep.preset=emigm-interval "${TOY[@]}"
bench run model=toy-emigm sampler.cfg=1.0 "${TOY[@]}"
bench run model=toy-mar "${TOY[@]}"
bench run model=toy-mar sampler.cfg=1.0 "${TOY[@]}"

bench report
