"""An experiment: configs trained into runs and evaluated as their ``evaluate`` sections say.

This is what ``untwine run`` does, and it sits above both the run directory (untwine.run) and the
protocols (untwine.protocols), which is why the ``evaluate`` section is checked here: a run config's
other sections are validated by untwine.config, which knows nothing of the protocols above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from untwine.config import ConfigError, RunConfig, read_yaml, validate_config
from untwine.config import load_config as load_run_config
from untwine.core.options import apply_overrides
from untwine.protocols import check_evaluate, evaluate_run, evaluated_as
from untwine.run import CONFIG_FILE, Run, config_files, finished_as, load_run, train


def check_experiment(config: RunConfig, origin: str = "config") -> RunConfig:
    """``config`` if its evaluate section names known protocols with options they take and that its
    model can serve; otherwise a ConfigError naming each bad key."""
    problems = check_evaluate(config.evaluate, config.model.name)
    if problems:
        raise ConfigError(f"{origin}: invalid config\n" + "\n".join(problems))
    return config


def validate_experiment(values: dict, origin: str = "config") -> RunConfig:
    """``untwine.config.validate_config`` and the evaluate section checked against the protocols."""
    return check_experiment(validate_config(values, origin), origin)


def load_config(path: Path | str, overrides: Sequence[str] = ()) -> RunConfig:
    """A run config file, every section checked (the evaluate section against the protocols)."""
    return check_experiment(load_run_config(path, overrides), str(path))


def resume_config(run_dir: Path | str, overrides: Sequence[str] = ()) -> RunConfig:
    """The config a run directory was trained with, with ``overrides`` applied (``--resume``)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run directory ({CONFIG_FILE} missing)")
    return validate_experiment(apply_overrides(read_yaml(path), overrides), origin=str(path))


def evaluate_as_configured(run: Run) -> None:
    """Apply the run's evaluate section, skipping protocols eval.json already holds as configured."""
    for spec in run.config.evaluate:
        if evaluated_as(run.dir, spec.protocol, spec.split, spec.seed, spec.options):
            print(f"skip {run.dir}: {spec.protocol} already in eval.json")
            continue
        print(f"evaluate {run.dir}: {spec.protocol} on the {spec.split} split")
        evaluate_run(run, spec.protocol, spec.split, spec.seed, spec.options)


def run_all(path: Path | str, overrides=(), progress: bool = True) -> list[Run]:
    """Train every config under ``path`` (one run per seed when it lists ``seeds``) one after
    another, then evaluate each as its ``evaluate`` section says; finished work is skipped, so an
    interrupted ``untwine run`` picks up where it stopped.

    Configs are all validated first, so a typo in the tenth file stops nothing midway.
    """
    configs = [one for file in config_files(path) for one in load_config(file, overrides).per_seed()]
    runs = []
    for config in configs:
        if finished_as(config):
            print(f"skip {config.run_dir}: finished")
            run = load_run(config.run_dir)
            # the evaluate section may have changed since training; the file's config has the old one
            run = Run(run.dir, run.config.model_copy(update={"evaluate": config.evaluate}), run.model)
        else:
            # train() resumes (e.g. to more steps) or refuses a run directory holding another config
            run = train(config, resume=True, progress=progress)[0]
        evaluate_as_configured(run)
        runs.append(run)
    return runs
