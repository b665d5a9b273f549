"""Bayesian optimisation with Optuna's ask-and-tell interface, every trial a cached task.

A family declares ``optuna:`` beside where ``grid:`` or ``random:`` would be. Its trials come in
batches of ``batch``; each batch is one stage. The decision of batch b (``optuna/<model>/batch-<b>.json``)
tells the study the trials of batch b - 1 their mean CV score of ``selection.metric`` (in its
direction; a trial whose every fit failed is told as failed), in trial order, then asks ``batch``
new trials, and writes their configurations and the study with its sampler (pickled) for the
decision after it. So the proposals are those of one study run by hand: ``ask()`` ``batch`` times,
``tell`` each its mean CV score, repeat; and, as decisions are cached files, a rerun replays them
without asking again: raising ``n_trials`` fits only the new trials, and a trial that proposes a
configuration already fitted reuses its fits. The study's pickle holds what this experiment made
itself; it is read by the same Optuna version only (the version is a parameter of each decision).
"""

from __future__ import annotations

import base64
import inspect
import math
import pickle

from .. import ConfigError
from ..experiment.suggest import with_hint
from ..experiment.tasks import config_id, estimator_definition
from ..task.io import read_json, write_json
from . import Search, score_file

STUDY_NAME = "manymodels"


class Optuna(Search):
    key, scope, folder, decide = "optuna", "family", "optuna", "manymodels.search.optuna:optuna_decision"

    def __init__(self, plan, model):
        super().__init__(plan, model)
        self.spec = plan.config["models"][model]
        self.settings = self.spec["optuna"]  # with the schema's defaults

    @classmethod
    def check(cls, config: dict, model: str, *, config_file: str) -> None:
        """The sampler must be a class of optuna.samplers taking a seed and the sampler_kwargs, and the
        experiment must not narrow or re-split what the study proposes (racing, halving, nested, streaming)."""
        import optuna

        key = f"{config_file}: models.{model}.optuna"
        for other in ("racing", "halving", "nested", "streaming"):
            if config.get(other):
                raise ConfigError(f"{key}: Bayesian optimisation with {other} is not supported; search that "
                                  f"family with grid or random, or drop {other}")
        settings = config["models"][model]["optuna"]
        name = settings["sampler"]
        samplers = [n for n in dir(optuna.samplers) if n.endswith("Sampler") and not n.startswith("_")]
        if name not in samplers:
            raise ConfigError(with_hint(f"{key}.sampler: '{name}' is not a sampler of optuna.samplers", name, samplers))
        accepted = inspect.signature(getattr(optuna.samplers, name)).parameters
        for arg in ["seed", *settings["sampler_kwargs"]]:
            if arg not in accepted and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
                where = "seed" if arg == "seed" else "sampler_kwargs"
                raise ConfigError(with_hint(f"{key}.{where}: {name} does not accept '{arg}'", arg, accepted))

    def batch_sizes(self) -> list[int]:
        n, batch = self.settings["n_trials"], self.settings["batch"]
        return [min(batch, n - start) for start in range(0, n, batch)]

    def stages(self) -> list[str]:
        return [f"{self.model}/batch-{b}" for b in range(len(self.batch_sizes()))]

    def planned_tasks(self) -> int:
        return self.settings["n_trials"]

    def trials(self, batch: int) -> list[dict]:
        return self.read(f"{self.model}/batch-{batch}")["trials"]

    def configurations(self) -> list[dict]:
        """Every configuration the trials proposed, once, in trial order (read from every decision)."""
        found = {}
        for stage in self.stages():
            found |= {r["config_id"]: r for r in self.read(stage)["configurations"] if r["config_id"] not in found}
        return list(found.values())

    def configuration(self, config_id: str) -> dict | None:
        """The configuration a trial proposed, read from the decisions up to the first that proposed it
        (a fit job's parameters may ask only for decisions already made)."""
        for stage in self.stages():
            for record in self.read(stage)["configurations"]:
                if record["config_id"] == config_id:
                    return record
        return None

    def decision_inputs(self, stage: str) -> dict[str, list[str]]:
        """Batch b's decision reads the decision of batch b - 1 and its trials' scores on every CV fold."""
        batch = int(stage.rpartition("batch-")[2])
        if batch == 0:
            return {"score_files": [], "previous": []}
        configs = dict.fromkeys(t["config_id"] for t in self.trials(batch - 1))
        return {"score_files": [score_file(self.model, cid, fold) for cid in configs for fold in self.plan.folds],
                "previous": [f"<results>/{self.folder}/{self.model}/batch-{batch - 1}.json"]}

    def decision_kwargs(self, stage: str) -> dict:
        from importlib.metadata import version

        plan, batch = self.plan, int(stage.rpartition("batch-")[2])
        settings = {key: self.settings[key] for key in ("sampler", "sampler_kwargs", "seed", "distributions")}
        return {"model": self.model, "batch": batch, "size": self.batch_sizes()[batch], **settings,
                "family": {"estimator": estimator_definition(self.spec), "kwargs": self.spec.get("kwargs", {}),
                           "fit_kwargs": self.spec.get("fit_kwargs", {})},
                "metric_names": list(plan.metrics), "metric": plan.selection_metric,
                "greater_is_better": plan.metrics[plan.selection_metric]["greater_is_better"],
                "optuna_version": version("optuna")}

    def score_files(self, tasks: list[dict]) -> list[str]:
        return [score_file(t["model"], t["config_id"], fold) for t in tasks for fold in self.plan.task_folds]


def distribution(spec: dict):
    """An Optuna distribution from the random: syntax (randint's high is excluded, as there)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    (kind, args), = spec.items()
    if kind == "choice":
        return CategoricalDistribution(args)
    if kind == "randint":
        return IntDistribution(args[0], args[1] - 1)
    return FloatDistribution(args[0], args[1], log=kind == "loguniform")


def new_study(*, sampler: str, sampler_kwargs: dict, seed: int, greater_is_better: bool):
    """The study a family's first decision starts, in memory (it travels pickled in the decisions)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    sampler_object = getattr(optuna.samplers, sampler)(seed=seed, **sampler_kwargs)
    study = optuna.create_study(storage=storage, sampler=sampler_object, study_name=STUDY_NAME,
                                direction="maximize" if greater_is_better else "minimize")
    return study, storage, sampler_object


def optuna_decision(*, score_files: list[str], previous: list[str] = (), model: str, batch: int, size: int,
                   sampler: str, sampler_kwargs: dict, seed: int, distributions: dict, family: dict,
                   metric_names: list[str], metric: str, greater_is_better: bool, optuna_version: str,
                   out: str) -> str:
    """Tell the study the previous batch's trials their mean CV score, ask ``size`` new trials and
    write them (their configurations, and the study with its sampler) to ``out``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if previous:
        before = read_json(previous[0])
        storage, sampler_object = pickle.loads(base64.b64decode(before["study"]))
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage, sampler=sampler_object)
        told = tell(study, before["trials"], mean_scores(score_files, metric_names, metric))
    else:
        study, storage, sampler_object = new_study(sampler=sampler, sampler_kwargs=sampler_kwargs, seed=seed,
                                                   greater_is_better=greater_is_better)
        told = []
    space = {name: distribution(spec) for name, spec in distributions.items()}
    asked = [study.ask(space) for _ in range(size)]
    points = [{name: trial.params[name] for name in distributions} for trial in asked]
    configurations = list({r["config_id"]: r for r in (configuration(model, family, p) for p in points)}.values())
    trials = [{"number": t.number, "config_id": configuration(model, family, p)["config_id"], "params": p}
              for t, p in zip(asked, points)]
    best = best_told(study)
    write_json({"search": Optuna.key, "report_section": f"{__name__}:report_text", "plot": f"{__name__}:plot",
                "model": model, "batch": batch, "metric": metric, "greater_is_better": greater_is_better,
                "sampler": sampler, "seed": seed,
                "told": told, "trials": trials, "configurations": configurations, "best": best,
                "survivors": [], "dropped": [],
                "study": base64.b64encode(pickle.dumps((storage, sampler_object))).decode()}, out)
    return (f"{model} batch {batch}: told {len(told)} trials, asked {len(trials)}"
            + (f"; best so far trial {best['number']} ({metric} {best['value']:.4g})" if best else ""))


def configuration(model: str, family: dict, params: dict) -> dict:
    """A trial's configuration record, as a grid point's (:func:`manymodels.experiment.tasks.expand_tasks`)."""
    cid = config_id(family["estimator"], family["kwargs"], params, family["fit_kwargs"])
    return {"model": model, "config_id": cid, "estimator": family["estimator"], "kwargs": dict(family["kwargs"]),
            "fit_kwargs": dict(family["fit_kwargs"]), "params": params}


def mean_scores(score_files: list[str], metric_names: list[str], metric: str) -> dict[str, float]:
    """Each configuration's mean CV score (NaN when every fit failed)."""
    from ..results.aggregate import read_score_table

    if not score_files:
        return {}
    scores = read_score_table(score_files, metric_names, check_identity=True).to_pandas()
    return scores.groupby("config_id")[metric].mean().to_dict()


def tell(study, trials: list[dict], means: dict[str, float]) -> list[dict]:
    """Tell each trial (in trial order) its configuration's mean CV score, or that it failed."""
    import optuna

    told = []
    for trial in sorted(trials, key=lambda t: t["number"]):
        value = means.get(trial["config_id"], math.nan)
        if value is None or math.isnan(value):
            study.tell(trial["number"], state=optuna.trial.TrialState.FAIL)
            told.append({"number": trial["number"], "config_id": trial["config_id"], "value": None})
        else:
            study.tell(trial["number"], float(value))
            told.append({"number": trial["number"], "config_id": trial["config_id"], "value": float(value)})
    return told


def best_told(study) -> dict | None:
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return None
    return {"number": study.best_trial.number, "value": float(study.best_value)}


def trial_numbers(decision_files: list[str]) -> dict[tuple[str, str], list[int]]:
    """(model, config_id) -> the numbers of the trials that proposed it (for the tables)."""
    numbers: dict[tuple[str, str], list[int]] = {}
    for path in decision_files:
        decision = read_json(path)
        for trial in decision.get("trials", []) if "batch" in decision else []:
            numbers.setdefault((decision["model"], trial["config_id"]), []).append(trial["number"])
    return numbers


def report_text(decisions: list[dict], scores) -> str:
    """The report's section: per family, its study, its batches and what each taught it."""
    import html

    import pandas as pd

    from ..results.formatting import format_number

    parts = ["<h2>Bayesian optimisation</h2>"]
    for model in dict.fromkeys(d["model"] for d in decisions):
        own = [d for d in decisions if d["model"] == model]
        trials = [t for d in own for t in d["trials"]]
        distinct = len({t["config_id"] for t in trials})
        metric = html.escape(own[0]["metric"])
        told = {t["number"]: t["value"] for d in own for t in d["told"]}
        means = scores[(scores["model"] == model) & scores["fold"].str.isdigit()].groupby("config_id")[own[0]["metric"]].mean()
        rows = []
        for d in own:
            values = [means.get(t["config_id"]) for t in d["trials"]]
            finite = [v for v in values if v is not None and not pd.isna(v)]
            best = max(finite) if d["greater_is_better"] else min(finite) if finite else None
            rows.append({"batch": d["batch"], "trials": f"{d['trials'][0]['number']}-{d['trials'][-1]['number']}",
                         f"mean CV {own[0]['metric']} of its trials (best)": (
                             f"{format_number(sum(finite) / len(finite))} ({format_number(best)})" if finite
                             else "every fit failed")})
        repeated = (f" Some trials proposed a configuration already tried: {len(trials)} trials, {distinct} distinct "
                    "configurations, each fitted once." if distinct < len(trials) else "")
        parts.append(
            f"<h3>{html.escape(model)}</h3><p>{len(trials)} trials in {len(own)} batches, proposed by Optuna's "
            f"{html.escape(own[0]['sampler'])} (seed {own[0]['seed']}). Each batch's trials were fitted and scored on "
            f"every CV fold like grid points, then the study was told each trial's mean CV {metric} before it "
            f"proposed the next batch; {len(told)} trials were told (the last batch is scored, not told). Every trial "
            f"is a configuration in the tables (<code>summary.parquet</code>'s <code>trial</code> column) and competes "
            f"for the choice on the same terms as a grid point.{repeated} The decisions "
            f"(<code>optuna/{html.escape(model)}/batch-&lt;b&gt;.json</code>) record every proposal.</p>"
            + pd.DataFrame(rows).to_html(index=False, border=0, classes="t", escape=True))
    return "".join(parts)


def plot(decided: list[dict], *, summary: str, selection: str, metric: str, spec: dict, out: str) -> None:
    """Bayesian optimisation, a panel per family: each trial's mean CV score in trial order, the best
    so far as a step line, batches shaded apart, the chosen configuration's trials in red."""
    import numpy as np
    import pandas as pd

    from ..results.formatting import format_params
    from ..results.plots import _figure, _save, _wrap

    table = pd.read_parquet(summary)
    choices = read_json(selection)
    families = list(dict.fromkeys(d["model"] for d in decided))
    fig = _figure(8, 4.2 * len(families) + 1.2)
    axes = fig.subplots(len(families), 1, squeeze=False)[:, 0]
    better = max if spec["greater_is_better"] else min
    for ax, family in zip(axes, families):
        own = [d for d in decided if d["model"] == family]
        means = table[table["model"] == family].set_index("config_id")[f"{metric}_mean"]
        trials = [t for d in own for t in d["trials"]]
        xs = np.array([t["number"] for t in trials])
        ys = np.array([means.get(t["config_id"], np.nan) for t in trials], dtype=float)
        for d in own[1::2]:  # every other batch shaded
            ax.axvspan(d["trials"][0]["number"] - 0.5, d["trials"][-1]["number"] + 0.5, color="0.93", zorder=0)
        ax.plot(xs, ys, "o", color="C0", alpha=0.8, zorder=2, label=f"a trial's mean CV {metric}")
        best, running = None, []
        for y in ys:
            best = y if best is None or np.isnan(best) else (best if np.isnan(y) else better(best, y))
            running.append(best)
        ax.step(xs, running, where="post", color="0.3", linewidth=1.5, zorder=1, label="best so far")
        chosen = (choices["models"].get(family, {}).get("chosen") or {})
        picked = [i for i, t in enumerate(trials) if t["config_id"] == chosen.get("config_id")]
        if picked:
            ax.plot(xs[picked], ys[picked], "o", color="C3", markersize=9, zorder=3,
                    label=f"chosen: {format_params(chosen['params'])}")
        if np.isnan(ys).any():
            ax.plot([], [], " ", label=f"{int(np.isnan(ys).sum())} trials whose every fit failed (not drawn)")
        ax.set_xlabel(f"trial (batches of {len(own[0]['trials'])}, shaded alternately)")
        ax.set_ylabel(f"mean CV {metric}\n({'higher' if spec['greater_is_better'] else 'lower'} is better)")
        ax.set_title(_wrap(f"{family}: {len(trials)} trials in {len(own)} batches ({own[0]['sampler']}, seed "
                           f"{own[0]['seed']})", 8, 11), fontsize=11)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.suptitle(_wrap(f"Bayesian optimisation on {metric}: each batch was proposed after the study was told the "
                       "scores of the batches before it", 8))
    _save(fig, out)
