"""The configuration: one schema (defaults and rules beside each field), YAML files that hold only what
differs from it, the whole configuration checked before any work, unknown keys named with the closest
known key."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from engine.errors import EngineError
from engine_runs import ROOT, TINY, compose, run_engine



def leaves(cls, prefix=""):
    """(dotted key, dataclass field) of every setting of a schema group, nested groups walked."""
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if f.metadata.get("group"):
            yield from leaves(f.metadata["group"], key)
        else:
            yield key, f


def flat(d, prefix=""):
    for k, v in (d or {}).items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            yield from flat(v, key)
        else:
            yield key, v


# ---------------------------------------------------------------- one schema (item 1)

def test_yaml_files_hold_only_what_differs_from_the_schema():
    """conf/<group>/*.yaml set only values the schema does not already have (a group option's name
    excepted: it is what the option is)."""
    from engine.config import EngineConfig

    defaults = dataclasses.asdict(EngineConfig())
    checked = 0
    for path in sorted((ROOT / "conf").glob("*/*.yaml")):
        group = path.parent.name
        if group not in defaults:   # hydra/, sweep/: not config groups of the schema
            continue
        for key, value in flat(yaml.safe_load(path.read_text()) or {}):
            checked += 1
            default = dict(flat(defaults[group])).get(key, defaults[group].get(key))
            assert key == "name" or value != default, f"{path.relative_to(ROOT)}: {key}: {value!r} is the schema's default"
    top = yaml.safe_load((ROOT / "conf" / "config.yaml").read_text())
    assert set(top) <= {"defaults", "hydra"}, "conf/config.yaml repeats schema defaults"
    assert checked >= 6   # the dataset and backend options' names


def test_composed_defaults_are_the_schema_and_measures_come_from_the_registry():
    from engine.config import EngineConfig, MeasuresConfig, validate
    from engine.measures.registry import MEASURES

    assert validate(compose()) == EngineConfig()
    assert MeasuresConfig().names == list(MEASURES)
    assert list(compose().measures.names) == list(MEASURES)


def test_train_settings_are_the_schema_objects():
    """No hand-copied field list: what a population trains with is the model and train groups themselves."""
    from engine.config import validate
    from engine.population.train import ModelConfig, TrainConfig, TrainSettings

    assert [(f.name, f.type) for f in dataclasses.fields(TrainSettings)] == [("model", "ModelConfig"),
                                                                             ("train", "TrainConfig")]
    cfg = validate(compose("train.lr=0.5", "model.hidden=[7]"))
    s = TrainSettings(cfg.model, cfg.train)
    assert s.train == TrainConfig(lr=0.5) and s.model == ModelConfig(hidden=[7])


def test_a_new_hyper_parameter_is_one_field_of_the_schema(tmp_path):
    """Adding ``momentum`` to the train group is one declaration (default + rule); Hydra, the validator,
    unknown-key suggestions and TrainSettings pick it up with nothing else to edit."""
    from engine.population.train import TrainConfig, TrainSettings
    from engine.schema import Interval, build, hydra_node, setting

    Train2 = dataclasses.make_dataclass("TrainConfig", [("momentum", float, setting(0.0, Interval(float, 0, 1)))],
                                        bases=(TrainConfig,))
    assert build(Train2, {"momentum": 0.9, "lr": 1}, "train") == Train2(momentum=0.9, lr=1.0)
    with pytest.raises(EngineError, match=r"^train.momentum=2: must be a finite number in \[0, 1\] \(default: 0.0\)$"):
        build(Train2, {"momentum": 2}, "train")
    with pytest.raises(EngineError, match="train.momentm: unknown setting; did you mean train.momentum"):
        build(Train2, {"momentm": 0.5}, "train")
    from omegaconf import OmegaConf

    assert OmegaConf.structured(hydra_node(Train2)).momentum == 0.0
    assert TrainSettings(train=Train2(momentum=0.5)).train.momentum == 0.5


def test_checking_a_configuration_does_not_load_the_analysis_stack():
    p = subprocess.run([sys.executable, "-c", "import sys, engine.config; "
                        "print(sorted(m for m in ('engine.analysis', 'sklearn') if m in sys.modules))"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


# ---------------------------------------------------------------- rules beside their fields (item 2)

def test_every_setting_declares_its_rule():
    from engine.config import EngineConfig

    missing = [key for key, f in leaves(EngineConfig) if not f.metadata.get("rules")]
    assert not missing, f"settings without a rule: {missing}"


def test_library_callers_get_the_schema_rules():
    """TrainSettings built in code go through the same rules (train_population checks them)."""
    import torch

    from engine.data.dataset import Dataset
    from engine.population.train import InitConfig, ModelConfig, TrainConfig, TrainSettings, train_population

    x, y = torch.rand(20, 4), torch.arange(20) % 2
    data = Dataset("toy", x, y, x, y, 2)
    for settings, key in [(TrainSettings(train=TrainConfig(lr=float("inf"))), "train.lr=inf"),
                          (TrainSettings(ModelConfig(hidden=[])), "model.hidden=[]"),
                          (TrainSettings(ModelConfig(init=InitConfig(low=1.0, high=0.5))), "model.init.high=0.5"),
                          (TrainSettings(train=TrainConfig(loss="mse")), "train.loss='mse'")]:
        with pytest.raises(EngineError, match=f"^{re.escape(key)}"):
            train_population(data, settings, range(2), progress=False)


def test_measure_names_are_checked_in_one_place(capsys):
    """measures.names, analysis.bon.measures and engine.inspect --measures: one rule, one message."""
    from engine.config import AnalysisConfig
    from engine.config import validate
    from engine.inspect import main

    reason = "unknown pagerank; choose from strength"
    with pytest.raises(EngineError, match=f"^measures.names=\\['pagerank'\\]: {reason}"):
        validate(compose("measures.names=[pagerank]"))
    with pytest.raises(EngineError, match=f"^analysis.bon.measures=\\['pagerank'\\]: {reason}"):
        AnalysisConfig.from_mapping({"bon": {"measures": ["pagerank"]}})
    assert main([str(ROOT / "tests" / "data" / "golden" / "mnist_network1.h5"), "--measures", "pagerank"]) == 2
    assert capsys.readouterr().err.startswith(f"error: --measures: {reason}")


# ---------------------------------------------------------------- the whole configuration, before any work (item 3)

@pytest.mark.parametrize("override,message", [
    ("analysis.folds=abc", "analysis.folds='abc': must be an integer >= 2 (default: 10)"),
    ("analysis.n_jobs=0", "analysis.n_jobs=0: must be an integer >= 1 or an integer <= -1 (default: -1)"),
    ("analysis.alpha=5", "analysis.alpha=5: must be a finite number in (0, 1) (default: 0.05)"),
    ("train.lr=inf", "train.lr=inf: must be a finite number > 0 (default: 0.01)"),
    ("measures.names=[]", "measures.names=[]: names no measure; choose at least one of strength"),
    ("population.size=abc", "population.size='abc': must be an integer >= 1 (default: 1000)"),
    ("dataset.test_fraction=1.5", "dataset.test_fraction=1.5: must be a finite number in (0, 1) (default: 0.25)"),
    ("analysis.bon.k=1", "analysis.bon.k=1: must be an integer >= 2 or one of auto (default: 6)"),
    ("analysis.enabled.regression=maybe", "analysis.enabled.regression='maybe': must be true or false"),
    ("measures.names=[strength]", "analysis.bon.measures=['strength', 'bipartite_clustering', "
                                  "'subgraph_centrality']: needs ['bipartite_clustering', 'subgraph_centrality']"),
    ("population.snapshots=[0,99]", "population.snapshots has epochs [99] outside 0..train.epochs=30"),
])
def test_bad_values_anywhere_are_one_line_errors_naming_the_key(override, message):
    from engine.config import validate

    with pytest.raises(EngineError, match=f"^{re.escape(message)}") as err:
        validate(compose(override))
    assert "\n" not in str(err.value)


def test_the_pipeline_validates_before_it_makes_anything(tmp_path):
    from engine.pipeline import run

    with pytest.raises(EngineError, match="analysis.folds"):
        run(compose(*TINY, "analysis.folds=abc"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_bad_analysis_value_fails_before_training(tmp_path):
    p = run_engine(*TINY, "analysis.folds=abc", f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == ["error: analysis.folds='abc': must be an integer >= 2 (default: 10)"]
    assert "chunk" not in p.stdout and not (tmp_path / "run").exists()


# ---------------------------------------------------------------- unknown keys (item 4)

@pytest.mark.parametrize("override,message", [
    ("+train.epoch=5", "train.epoch: unknown setting; did you mean train.epochs?"),
    ("+dataset.nme=mnist", "dataset.nme: unknown setting; did you mean dataset.name?"),
    ("+model.hiden=[3]", "model.hiden: unknown setting; did you mean model.hidden?"),
    ("+model.init.hi=2", "model.init.hi: unknown setting; did you mean model.init.high?"),
    ("+population.sise=3", "population.sise: unknown setting; did you mean population.size?"),
    ("+measures.name=[strength]", "measures.name: unknown setting; did you mean measures.names?"),
    ("+backend.nam=cpu", "backend.nam: unknown setting; did you mean backend.name?"),
    ("+analysis.foldz=3", "analysis.foldz: unknown setting; did you mean analysis.folds?"),
    ("+analysis.bon.kk=3", "analysis.bon.kk: unknown setting; did you mean analysis.bon.k?"),
    ("+analysis.early.repeat=2", "analysis.early.repeat: unknown setting; did you mean analysis.early.repeats?"),
    ("+analysis.enabled.regresion=false", "analysis.enabled.regresion: unknown key; did you mean regression?"),
    ("+stage=[train]", "stage: unknown setting; did you mean stages?"),
])
def test_unknown_keys_name_the_closest_known_key(override, message):
    from engine.config import validate

    with pytest.raises(EngineError, match=rf"\A{re.escape(message)}\Z"):
        validate(compose(override))


@pytest.mark.parametrize("args,message", [
    (["train.epoch=5"], "train.epoch: unknown setting; did you mean train.epochs?"),
    (["analysis.bon.kk=3"], "analysis.bon.kk: unknown setting; did you mean analysis.bon.k?"),
    (["dataset=mnsit"], "dataset=mnsit: no such option; did you mean dataset=mnist? "
                        "(options: cifar10, digits, fashion_mnist, kmnist, mnist, mnist1d)"),
    (["-m", "dataset=digits,fashon_mnist"], "dataset=fashon_mnist: no such option; did you mean "
                                            "dataset=fashion_mnist? (options: cifar10, digits, fashion_mnist, "
                                            "kmnist, mnist, mnist1d)"),
    (["+sweep=smok"], "sweep=smok: no such option; did you mean sweep=smoke? "
                      "(options: full, paper_fashion, paper_mnist, rewiring, smoke)"),
    (["zzz=1"], "zzz: unknown setting; known keys of the configuration: dataset, model, train, population, "
                "backend, measures, analysis, stages, progress"),
    (["analysis.enabled.regresion=false"], "analysis.enabled.regresion: not a key of analysis.enabled; did you "
                                           "mean analysis.enabled.regression?"),
    (["model=paper"], "model=paper: model is a group of settings with no options in conf/ (its defaults are the "
                      "schema's); set its keys, e.g. model.<key>=<value>"),
])
def test_overrides_are_checked_before_hydra(args, message):
    """Hydra's own report for these is many lines and points at '+' (train.epoch=5: 'To append to your
    config use +train.epoch=5'), not at the typo."""
    from engine.overrides import check_overrides
    from engine.resources import conf_dir

    with pytest.raises(EngineError, match=rf"\A{re.escape(message)}\Z"):
        check_overrides(args, conf_dir())


def test_overrides_left_to_hydra_and_the_schema_pass():
    from engine.overrides import check_overrides
    from engine.resources import conf_dir

    check_overrides(["-m", "--cfg", "job", "dataset=digits,mnist1d", "backend=cpu", "train.epochs=3",
                     "population.shard=0/2,1/2", "hydra.run.dir=x", "hydra/launcher=joblib", "+sweep=smoke",
                     "+train.newkey=1", "dataset=choice(digits,mnist1d)", "+analysis.estimator_params.svm.C=2",
                     "analysis.estimator_params.svm.C=2",
                     "analysis.estimator_params.svm.kernel=linear", "analysis.enabled.regression=false",
                     "~analysis.bon", "progress=false", "measures.names=[strength]"], conf_dir())
    check_overrides(["-cd", "my_configs", "dataset=my_data"], conf_dir())   # options from the user's configs
    check_overrides(["hydra.searchpath=[file://my_configs]", "dataset=my_data"], conf_dir())


def test_cli_unknown_key_without_plus_is_one_line(tmp_path):
    p = run_engine(*TINY, "train.epoch=5", f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["error: train.epoch: unknown setting; did you mean train.epochs?"]
    assert not (tmp_path / "run").exists()


def test_cli_unknown_key_is_an_error_before_any_work(tmp_path):
    p = run_engine(*TINY, "+train.epoch=5", f"hydra.run.dir={tmp_path / 'run'}", check=False)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == ["error: train.epoch: unknown setting; did you mean train.epochs?"]
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- one decorator for every command line (item 5)

def test_cli_errors_is_one_line_and_exit_status_2(capsys):
    from engine.errors import cli_errors

    @cli_errors(OSError)
    def main(what):
        raise what("no such thing\u2019s file")

    assert main(EngineError) == 2 and main(FileNotFoundError) == 2
    assert capsys.readouterr().err == "error: no such thing\u2019s file\n" * 2
    with pytest.raises(ValueError, match="no such thing\u2019s file"):
        main(ValueError)   # a bug stays a traceback

    @cli_errors(exit=True)
    def task():
        raise EngineError("bad value")

    with pytest.raises(SystemExit, match="^2$") as ex:
        task()
    assert ex.value.code == 2 and capsys.readouterr().err == "error: bad value\n"


def test_every_command_line_uses_the_decorator():
    """engine.run, engine.inspect, engine.gather and the Hydra callbacks that stop a run all answer through
    cli_errors (engine.report's entry point belongs to the report package)."""
    from engine import callbacks, gather, inspect, run
    from engine.errors import cli_errors

    wrapper_code = cli_errors()(lambda: 0).__code__
    for fn in (run.run_job, inspect.main, gather.main, callbacks.OutputDirCheck.on_run_start,
               callbacks.OutputDirCheck.on_multirun_start, callbacks.SweepCheck.on_multirun_start):
        assert fn.__code__ is wrapper_code, fn.__qualname__


# ---------------------------------------------------------------- huge populations (item 6)

def test_an_absurd_population_starts_fast_in_bounded_memory(tmp_path, caplog):
    """100 million networks: validation and planning make nothing per network (chunks are ranges made one at a
    time, finished chunks are found by listing parts/), and the plan states the work and time up front.
    stages=[measures] stops the run right after planning, before any training."""
    import logging
    import time
    import tracemalloc

    from engine.pipeline import run

    cfg = compose(*TINY, "population.size=100000000", "stages=[measures]")
    tracemalloc.start()
    t = time.perf_counter()
    try:
        with caplog.at_level(logging.INFO, logger="engine"), \
                pytest.raises(EngineError, match="skips training but chunk digits_000000-"):
            run(cfg, tmp_path / "run")
        seconds, peak = time.perf_counter() - t, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 30 and peak < 50e6, (seconds, peak)
    assert "plan: 100000000 network(s) in " in caplog.text and " TFLOP in all: about " in caplog.text
    assert not (tmp_path / "run").exists()


def test_every_chunk_states_its_time_and_what_is_left(tmp_path, caplog):
    import logging

    from engine.pipeline import run

    with caplog.at_level(logging.INFO, logger="engine"):
        run(compose(*TINY, "population.chunk_size=2", "stages=[train]"), tmp_path / "run")
    text = caplog.text
    assert text.index("plan: 4 network(s) in 2 chunk(s) of up to 2; training ") < text.index("chunk 1/2: networks 0..1")
    assert "chunk 1/2 done in " in text and "left for 1 chunk(s) at this pace" in text
    assert "chunk 2/2 done in " in text


# ---------------------------------------------------------------- exploded networks (item 7)

def test_numerically_exploded_networks_are_flagged_diverged():
    """cross_entropy at lr 10: losses reach 1e7 to 1e23 in the first epoch, weights 1e8 to 1e24 times their
    init, then the ReLUs die (loss log 10, accuracy 0.1) with finite but meaningless weights: all flagged."""
    from engine.data import load_dataset
    from engine.population.train import TrainConfig, TrainSettings, train_population

    data = load_dataset("digits")
    res = train_population(data, TrainSettings(train=TrainConfig(loss="cross_entropy", lr=10.0, epochs=3)), range(8),
                           progress=False)
    assert res.diverged.all()
    assert np.nanmax(res.curves["train_loss"][:, 1]) > 1e6


def test_the_default_population_has_no_diverged_network():
    """The paper's settings on digits (keras loss, lr 0.01, 30 epochs): none flagged (16 networks here; 50
    were checked by hand, and the worst growth seen with the paper's settings is 1.4x the init scale)."""
    from engine.data import load_dataset
    from engine.population.train import TrainSettings, train_population

    res = train_population(load_dataset("digits"), TrainSettings(), range(16), progress=False)
    assert not res.diverged.any()


# ---------------------------------------------------------------- the groups' docstrings

@pytest.mark.parametrize("name", ["DatasetConfig", "PopulationConfig", "BackendConfig", "MeasuresConfig", "BoNConfig",
                                  "EarlyConfig", "AnalysisConfig", "EngineConfig"])
def test_group_docstring_names_every_setting_and_nothing_else(name):
    """A group's docstring names its settings (their defaults and rules live at the declarations only):
    a setting added, renamed or removed without its name in the Attributes section fails here."""
    from engine import config

    cls = getattr(config, name)
    section = cls.__doc__.split("Attributes\n    ----------\n", 1)[1].split("\n\n", 1)[0]
    named = [n.strip() for line in section.splitlines() if not line.startswith("        ")
             for n in line.split(",")]
    assert sorted(named) == sorted(f.name for f in dataclasses.fields(cls)), f"{name}'s Attributes section"


def test_arm_values_read_as_the_command_line_reads_them():
    """``train.lr=1e-3`` is a number on Hydra's command line; in an arm of population.compare it was the
    string '1e-3' (PyYAML reads YAML 1.1, where an exponent needs a dot) and the arm was refused."""
    from engine.arms import arm_config, parse_arms
    from engine.config import validate

    arms = parse_arms(["train.lr=1e-3", "train.lr=2.5E+2 rewire=pa", "rewire=1e3x"])
    assert [a.settings for a in arms] == [(("train.lr", 0.001),), (("train.lr", 250.0), ("model.init.rewire", "pa")),
                                          (("model.init.rewire", "1e3x"),)]
    cfg = validate({"population": {"compare": ["rewire=none", "rewire=pa train.lr=1e-3"]}})
    assert arm_config(cfg, parse_arms(cfg.population.compare)[1]).train.lr == 0.001


def test_a_misspelt_list_item_is_named_with_the_closest_option():
    from engine.config import AnalysisConfig

    with pytest.raises(EngineError, match=r"^analysis\.classifiers=\['svm', 'random_forrest'\]: item 1 "
                                          r"\('random_forrest'\) must be one of .*; did you mean random_forest\?"):
        AnalysisConfig.from_mapping({"classifiers": ["svm", "random_forrest"]})
    with pytest.raises(EngineError, match=r"item 0 \('zzz'\) must be one of cn, bon, weights, spectral, all$"):
        AnalysisConfig.from_mapping({"feature_sets": ["zzz"]})   # nothing close: no guess
