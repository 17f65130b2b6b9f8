# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Step cost and the MB/EB crossover
#
# What one inference step costs on each device in `results/`, as measured by the step probe (a whole
# forward step of a synthetic model with real shapes) and as fitted into the device's profile.
# Every device folder `results/<device>/<model>/` appears automatically; published calibrations under
# `results/reference/` are drawn in black and labelled *published reference*.
# Set `PHASECAL_RESULTS` to read another results folder.

# %%
from phasecal.reports import step_cost
from phasecal.reports.data import load_results
from phasecal.reports.style import show

results = load_results()
print(f"results folders: {results.where}")
print(results.summary())
for problem in results.problems:
    print("could not read:", problem)

# %% [markdown]
# ## 1. Step time against tokens, per phase
#
# Left: pure-prefill steps (one prompt, no cache) against their prefill tokens. Right: pure-decode steps
# against the number of decoding sequences, one series per KV context. Markers are measured medians with
# p10–p90 bars; dashed lines are the profile's exclusive fit α + β·n. The intercept α is the per-step
# overhead (launches, weights read once), the slope β the marginal cost of one more token.

# %%
show(step_cost.step_time_vs_tokens(results))

# %% [markdown]
# ## 2. Marginal cost of a mixed step against its decode share
#
# MB (mixed batching) puts prefill and decode tokens in one step. β_MB(r) is the marginal cost per token
# of such a step at decode share r, fitted at the profile's token budget B. phasecal names three things
# "crossover" and keeps them apart (`phasecal.fitting.crossover`):
#
# - the **decode crossover**, the paper's crossover share: every r where β_MB(r) crosses pure decode's
#   β_d (green vertical lines, against the flat dashed line);
# - the **blend crossover**: every r where β_MB(r) crosses what the same tokens cost in exclusive steps,
#   (1 − r)·β_p + r·β_d (dotted lines, against the sloped dashed line);
# - **Δ(N)**, the load-dependent decision EB+ acts on, which adds the per-step overheads amortised over
#   the refill and the batch (notebook 3 and `phasecal run`).
#
# Each crossing has a direction: "mixing costs more above r = …" where β_MB rises through its reference,
# "below r = …" where it falls through it. The paper reports a decode crossover near 80% on an H200 and
# near 20% on an RTX PRO 6000 (Qwen3-8B). Its published H200 β_MB (black, its own panel) crosses β_d at
# r ≈ 0.37 under that very definition, not at 80%: it was fitted to inverse whole-engine throughput at
# three workloads, so it carries every per-step overhead (scheduling, sampling, α amortised over the
# step's tokens), while β_d is the bare slope of exclusive decode steps. Against decode's all-in cost per
# token, α_d/N + β_d, the crossing reaches 80% at a decode batch of about 300 (the profile's note below
# gives the number). phasecal's own β_MB is a slope over token budgets, overheads left out like β_d: a
# like-for-like crossing.

# %%
show(step_cost.marginal_cost_vs_decode_share(results))

# %% [markdown]
# The crossovers each profile stores, with its notes on the paper's ~80%:

# %%
for label, profile in [(d.label, d.profile) for d in results.with_profile()] + \
        [(r.label, r.profile) for r in results.references]:
    if profile.derived.crossover is not None:
        print(f"{label}:")
        for note in profile.derived.crossover.notes:
            print("  -", note)

# %% [markdown]
# ## 3. Predicted against measured step time
#
# Every measured step against what the device's profile predicts for its exact composition. Points inside
# the darker band are within ±10%, the lighter band ±25%.

# %%
show(step_cost.predicted_vs_measured(results))

# %% [markdown]
# ## 4. How well each model family predicts unseen steps
#
# Mean absolute percentage error of each candidate step model on steps it was not fitted to: k-fold over
# the grid, and the largest steps held out (extrapolation). The profile uses the family marked ★.

# %%
show(step_cost.model_error_by_family(results))
