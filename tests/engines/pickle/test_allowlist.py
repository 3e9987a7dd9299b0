"""The allowlist table: each family trusts what it says, nothing near it, and loses to the denylist.

Every family has examples here: names its libraries really write (SAFE), dangerous or
file-opening names next to them that must stay DANGEROUS or unknown, and, for the
reconstruct-only families, proof that calling the class is reported (MLS-PKL-014).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pickle_asm import Asm

from pytest_mlsupply.engines.pickle import PicklePolicy, Verdict, decide, scan_pickle_bytes
from pytest_mlsupply.engines.pickle import policy as policy_module
from pytest_mlsupply.engines.pickle.allowlist import (
    FAMILIES,
    REEXPORTED_DENIED,
    VERSION,
    exact_entries,
    family_of,
    render_markdown,
)
from pytest_mlsupply.results import Severity

#: family -> (names its library writes, names near it that must not be SAFE)
EXAMPLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "python-data": (
        ("builtins.set", "builtins.len", "copyreg._reconstructor", "_codecs.encode"),
        ("builtins.eval", "builtins.getattr", "builtins.open", "copyreg.add_extension",
         "_codecs.open", "builtins.__import__"),
    ),
    "python-stdlib-values": (
        ("collections.OrderedDict", "datetime.timezone", "argparse.Namespace", "pathlib.PosixPath",
         "typing.Any", "collections.abc.Mapping", "__future__.annotations", "random.Random"),
        ("pathlib.Path.write_text", "pathlib.Path.unlink", "typing.get_type_hints",
         "collections.abc.Popen", "argparse.ArgumentParser", "random.SystemRandom.__init__",
         "types.FunctionType"),
    ),
    "zoneinfo": (
        ("zoneinfo.ZoneInfo", "zoneinfo.ZoneInfo._unpickle"),
        ("zoneinfo.ZoneInfo.from_file", "zoneinfo.ZoneInfo.__init__", "zoneinfo.ZoneInfo.__reduce__",
         "zoneinfo._tzpath.find_tzfile", "zoneinfo._common.load_tzdata",
         "zoneinfo.ZoneInfo.clear_cache", "zoneinfo.reset_tzpath"),
    ),
    "numpy": (
        ("numpy.ndarray", "numpy._core.multiarray._reconstruct", "numpy.dtypes.Float32DType",
         "numpy.float32", "numpy.log1p", "numpy.mean"),
        ("numpy.load", "numpy.save", "numpy.fromfile", "numpy.memmap", "numpy.loadtxt",
         "numpy.genfromtxt", "numpy.testing.runstring", "numpy.lib.npyio.load",
         "numpy._core._ufunc_reconstruct", "numpy.ctypeslib.load_library"),
    ),
    "numpy-random": (
        ("numpy.random._pickle.__generator_ctor", "numpy.random.bit_generator.SeedSequence",
         "numpy.random._pcg64.PCG64"),
        ("numpy.random._pickle.pickle", "numpy.random.bit_generator.os.system"),
    ),
    "joblib-wrappers": (
        ("joblib.numpy_pickle.NumpyArrayWrapper", "joblib.numpy_pickle_compat.ZNDArrayWrapper"),
        ("joblib.load", "joblib.numpy_pickle.load", "joblib.numpy_pickle.NumpyPickler",
         "joblib.parallel.Parallel"),
    ),
    "pandas": (
        ("pandas.DataFrame", "pandas.arrays.IntegerArray", "pandas.core.indexes.base._new_Index",
         "pandas._libs.internals._unpickle_block", "pandas._libs.tslibs.offsets.MonthEnd",
         "pandas.core.internals.managers.BlockManager"),
        ("pandas.read_pickle", "pandas.read_csv", "pandas.HDFStore", "pandas.ExcelFile",
         "pandas.ExcelWriter", "pandas.io.pytables.HDFStore", "pandas.io.pickle.read_pickle",
         "pandas.eval", "pandas.core.computation.eval.eval", "pandas.core.computation.expr.Expr",
         "pandas.core.frame.DataFrame.to_pickle", "pandas.core.window.rolling.Rolling",
         "pandas.core.apply.FrameApply", "pandas.NamedFunc", "pandas.util.Popen"),
    ),
    "pyarrow-buffers": (
        ("pyarrow.lib._restore_array", "pyarrow.lib.py_buffer", "pyarrow.lib.type_for_alias"),
        ("pyarrow.lib.memory_map", "pyarrow.lib.OSFile", "pyarrow.parquet.read_table",
         "pyarrow.lib.ipc_read", "pyarrow.fs.LocalFileSystem"),
    ),
    "scipy-interpolate": (
        ("scipy.interpolate._bsplines.BSpline",),
        ("scipy.interpolate._bsplines.make_interp_spline", "scipy.io.loadmat"),
    ),
    "scipy-sparse": (
        ("scipy.sparse._csr.csr_matrix", "scipy.sparse._coo.coo_array"),
        ("scipy.sparse.load_npz", "scipy.sparse._matrix_io.load_npz", "scipy.io.mmread",
         "scipy.sparse.csr_matrix.__init__"),
    ),
    "sklearn": (
        ("sklearn.ensemble._forest.RandomForestClassifier", "sklearn.tree._tree.Tree",
         "sklearn.neighbors._kd_tree.newObj", "sklearn.feature_selection._univariate_selection.f_classif"),
        ("sklearn.utils._testing.TempMemmap", "sklearn.datasets._base.load_files",
         "sklearn.datasets.fetch_openml", "sklearn.datasets._openml.OpenMLError",
         "sklearn.externals.joblib.load", "sklearn.utils.estimator_checks.check_estimator",
         "sklearn.utils.Popen", "sklearn.ensemble._forest.system"),
    ),
    "sklearn-metrics": (
        ("sklearn.metrics._classification.balanced_accuracy_score",
         "sklearn.metrics._regression.mean_squared_error"),
        ("sklearn.metrics._classification.load", "sklearn.metrics._scorer.get_scorer",
         "sklearn.metrics._classification._check_targets"),
    ),
    "torch-tensors": (
        ("torch._utils._rebuild_tensor_v2", "torch.FloatStorage", "torch.Size", "torch.bfloat16",
         "torch.serialization._get_layout"),
        ("torch.load", "torch.serialization.load", "torch.storage._load_from_bytes",
         "torch.hub.load", "torch._utils._import_dotted_name", "torch.Size.__init__"),
    ),
    "torchscript-builders": (
        ("torch.jit._pickle.build_intlist",),
        ("torch.jit.load", "torch.jit._pickle.os", "torch.jit._serialization.load"),
    ),
    "torch-modules": (
        ("torch.nn.modules.linear.Linear", "torch.nn.modules.rnn.LSTM",
         "torch.nn.modules.transformer.TransformerEncoderLayer", "torch.nn.functional.relu"),
        ("torch.nn.modules.module.Module.load_state_dict", "torch.nn.functional.os",
         "torch.nn.modules.linear.Linear.__init__", "torch.nn.utils.prune.custom_from_mask",
         "torch.hub.load_state_dict_from_url"),
    ),
    "torch-optim": (
        ("torch.optim.adamw.AdamW", "torch.optim.lr_scheduler.StepLR"),
        ("torch.optim.lr_scheduler.load", "torch.optim.optimizer.Optimizer.load_state_dict",
         "torch.optim.lr_scheduler.warnings"),
    ),
    "transformers-configs": (
        ("transformers.models.bert.configuration_bert.BertConfig",
         "transformers.configuration_utils.PretrainedConfig",
         "transformers.generation.configuration_utils.GenerationConfig"),
        ("transformers.pipeline", "transformers.pipelines.pipeline",
         "transformers.models.auto.configuration_auto.AutoConfig.from_pretrained",
         "transformers.dynamic_module_utils.get_class_from_dynamic_module",
         "transformers.models.bert.modeling_bert.BertModel",
         "transformers.configuration_utils.PretrainedConfig.from_pretrained"),
    ),
    "transformers-training-args": (
        ("transformers.training_args.TrainingArguments",
         "transformers.training_args_seq2seq.Seq2SeqTrainingArguments"),
        ("transformers.trainer.Trainer", "transformers.training_args.load",
         "transformers.training_args.TrainingArguments.__post_init__"),
    ),
    "transformers-enums": (
        ("transformers.trainer_utils.IntervalStrategy", "transformers.training_args.OptimizerNames"),
        ("transformers.trainer_utils.get_last_checkpoint", "transformers.trainer_utils.set_seed"),
    ),
    "accelerate-state": (
        ("accelerate.state.PartialState", "accelerate.utils.dataclasses.ProjectConfiguration"),
        ("accelerate.utils.dataclasses.os", "accelerate.checkpointing.load_accelerator_state",
         "accelerate.utils.load_state_dict", "accelerate.state.PartialState.__init__"),
    ),
    "accelerate-enums": (
        ("accelerate.utils.dataclasses.DistributedType",),
        ("accelerate.utils.launch.prepare_multi_gpu_env", "accelerate.commands.launch.launch_command"),
    ),
    "tokenizers": (
        ("tokenizers.Tokenizer", "tokenizers.models.BPE", "tokenizers.pre_tokenizers.Whitespace"),
        ("tokenizers.Tokenizer.from_file", "tokenizers.Tokenizer.from_pretrained",
         "tokenizers.implementations.SentencePieceBPETokenizer", "tokenizers.tools.EncodingVisualizer"),
    ),
    "datasets-features": (
        ("datasets.features.features.Features",),
        ("datasets.load_dataset", "datasets.load.load_dataset", "datasets.load_from_disk"),
    ),
    "datasets-in-memory": (
        ("datasets.arrow_dataset.Dataset", "datasets.table.InMemoryTable",
         "datasets.features.features.Value"),
        ("datasets.table.MemoryMappedTable", "datasets.arrow_dataset.Dataset.from_file",
         "datasets.load_dataset", "datasets.table._memory_mapped_arrow_table_from_file"),
    ),
    "omegaconf": (
        ("omegaconf.dictconfig.DictConfig", "omegaconf.nodes.AnyNode", "omegaconf.base.Metadata"),
        ("omegaconf.omegaconf.OmegaConf", "omegaconf.OmegaConf.load", "hydra.utils.instantiate",
         "hydra.utils.get_method", "omegaconf.omegaconf.OmegaConf.register_new_resolver"),
    ),
    "lightning": (
        ("lightning_fabric.utilities.data.AttributeDict",),
        ("pytorch_lightning.core.saving.load_hparams_from_yaml",
         "lightning_fabric.utilities.cloud_io._load", "pytorch_lightning.trainer.trainer.Trainer"),
    ),
    "gradient-boosting": (
        ("xgboost.sklearn.XGBClassifier", "xgboost.core.Booster", "lightgbm.basic.Booster",
         "lightgbm.sklearn.LGBMRegressor", "catboost.core.CatBoostClassifier"),
        ("xgboost.core.Booster.load_model", "lightgbm.basic.Booster.model_from_string",
         "catboost.core.CatBoost.load_model", "xgboost.tracker.RabitTracker",
         "lightgbm.basic._LIB", "catboost.core.Pool"),
    ),
}  # fmt: skip


def _split(dotted: str) -> tuple[str, str]:
    """Split at the last module boundary a loader would see: module, then a plain name."""
    module, _, name = dotted.rpartition(".")
    return module, name


def test_every_family_has_examples_and_every_example_a_family() -> None:
    assert set(EXAMPLES) == set(FAMILIES)


def test_the_table_names_its_version_as_a_date() -> None:
    assert re.fullmatch(r"20\d\d\.\d\d\.\d\d\.\d+", VERSION)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_trusts_the_names_its_library_writes(family: str) -> None:
    for dotted in EXAMPLES[family][0]:
        module, name = _split(dotted)
        assert decide(module, name).verdict is Verdict.SAFE, dotted
        assert family_of(module, name) is not None, dotted


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_trusts_nothing_dangerous_next_to_it(family: str) -> None:
    for dotted in EXAMPLES[family][1]:
        module, name = _split(dotted)
        assert decide(module, name).verdict is not Verdict.SAFE, dotted
        # A dotted walk from a trusted name (GLOBAL 'pkg' 'Class.method') is never trusted.
        for safe in EXAMPLES[family][0]:
            safe_module, safe_name = _split(safe)
            walked = decide(safe_module, f"{safe_name}.{name}")
            assert walked.verdict is not Verdict.SAFE, f"{safe}.{name}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_denylist_wins_over_each_family(family: str) -> None:
    entry = FAMILIES[family]
    denied = policy_module._DANGEROUS_PREFIXES
    for dotted in entry.exact:
        # An exact entry sits under a denied module only when the table says it overrides it.
        hit = policy_module._longest_prefix(dotted.split("."), denied)
        assert hit is None or dotted in entry.overrides, f"{dotted} is under denied {hit}"
    for safe in EXAMPLES[family][0]:
        module, name = _split(safe)
        for payload in ("os.system", "__globals__", "__init__.__globals__", "Popen"):
            verdict = decide(module, f"{name}.{payload}").verdict
            assert verdict is Verdict.DANGEROUS, f"{safe}.{payload}: {verdict}"
    if entry.names:
        # A name the pattern admits, in a denied module under the family's prefix, stays denied.
        probe = {
            "pandas": ("pandas.core.computation.ops", "BinOp"),
            "sklearn": ("sklearn.externals.joblib", "Memory"),
        }.get(family)
        if probe is not None:
            assert decide(*probe).verdict is not Verdict.SAFE


def test_the_notorious_names_are_not_admitted_by_any_pattern() -> None:
    for module in (
        "sklearn.utils",
        "torch.nn.modules.linear",
        "torch.optim.sgd",
        "pandas.core.frame",
        "accelerate.utils.dataclasses",
        "omegaconf.nodes",
        "tokenizers.models",
    ):
        for name in ("Popen", "_Popen", "System"):
            assert decide(module, name).verdict is not Verdict.SAFE, f"{module}.{name}"


@pytest.mark.parametrize("family", [name for name, f in FAMILIES.items() if f.names])
def test_no_pattern_admits_a_dangerous_class_its_modules_re_export(family: str) -> None:
    # The survey's audit found these: sklearn.callback._transport.Client is
    # multiprocessing.connection.Client, sklearn.utils._available_if.MethodType is
    # types.MethodType, pandas._libs.tslibs.timezones._ZoneInfo is zoneinfo.ZoneInfo.
    module = FAMILIES[family].modules[0] + ".some_module"
    for name in sorted(REEXPORTED_DENIED):
        for spelled in (name, f"_{name}"):
            assert not FAMILIES[family].pattern_matches(module, spelled), f"{module}.{spelled}"
    assert decide("sklearn.callback._transport", "Client").verdict is not Verdict.SAFE
    assert decide("sklearn.utils._available_if", "MethodType").verdict is not Verdict.SAFE
    assert decide("pandas._libs.tslibs.timezones", "_ZoneInfo").verdict is not Verdict.SAFE


def test_scipys_linear_operator_re_exported_by_scikit_learn_is_not_admitted() -> None:
    # LinearOperator(shape, matvec) calls matvec: a constructor that calls its argument.
    assert decide("sklearn.utils.sparsefuncs", "LinearOperator").verdict is not Verdict.SAFE


def test_a_class_pattern_does_not_admit_the_functional_module_layers_import_as_f() -> None:
    assert decide("torch.nn.modules.activation", "F").verdict is not Verdict.SAFE
    assert decide("torch.nn.modules.rnn", "GRU").verdict is Verdict.SAFE


def test_an_overriding_entry_is_the_only_way_under_a_denied_module() -> None:
    assert decide("copyreg", "_reconstructor").verdict is Verdict.SAFE
    assert decide("copyreg", "add_extension").verdict is Verdict.DANGEROUS
    assert decide("torch.serialization", "_get_layout").verdict is Verdict.SAFE
    assert decide("torch.serialization", "Unpickler").verdict is Verdict.DANGEROUS


def test_the_catalogue_embeds_the_table_as_generated() -> None:
    page = Path(__file__).parents[3] / "docs" / "checks-pickle.md"
    text = page.read_text(encoding="utf-8")
    begin = text.index("<!-- allowlist:begin")
    start = text.index("\n", begin) + 1
    end = text.index("<!-- allowlist:end -->")
    assert text[start:end] == render_markdown()
    for family in FAMILIES:
        assert f"| `{family}` |" in text


def test_the_exact_entries_are_each_in_one_family() -> None:
    seen: dict[str, str] = {}
    for name, family in FAMILIES.items():
        for dotted in family.exact:
            assert dotted not in seen, f"{dotted} in {seen.get(dotted)} and {name}"
            seen[dotted] = name
    assert seen == exact_entries()


# -- reconstruct-only families: made without __init__ is data, a call runs the constructor --


def _newobj(module: str, name: str) -> bytes:
    return (
        Asm().proto(2).global_(module, name).empty_tuple().newobj()
        .empty_dict().str("a").int_(1).setitem().build().stop().bytes()
    )  # fmt: skip


def _reduce(module: str, name: str) -> bytes:
    return (
        Asm().proto(2).global_(module, name)
        .str("out").str("/etc/ds_config.json").tuple2().reduce().stop().bytes()
    )  # fmt: skip


def _reconstructor_base(module: str, name: str) -> bytes:
    return (
        Asm().proto(2).global_("copyreg", "_reconstructor")
        .global_(module, name).global_(module, name).str("/etc/passwd").tuple3().reduce()
        .stop().bytes()
    )  # fmt: skip


def _obj(module: str, name: str, *args: str) -> bytes:
    asm = Asm().proto(1).mark().global_(module, name)
    for arg in args:
        asm = asm.str(arg)
    return asm.obj().stop().bytes()


def _rules(data: bytes) -> list[tuple[str, Severity]]:
    scan = scan_pickle_bytes(data, policy=PicklePolicy(), origin="training_args.bin")
    assert scan.error is None
    return [(f.rule, f.severity) for f in scan.findings]


RECONSTRUCT_ONLY = [name for name, family in FAMILIES.items() if family.reconstruct_only]


@pytest.mark.parametrize("family", RECONSTRUCT_ONLY)
def test_a_reconstruct_only_class_made_as_its_library_pickles_it_is_clean(family: str) -> None:
    for safe in EXAMPLES[family][0]:
        module, name = _split(safe)
        if FAMILIES[family].names and "." not in name and name[:1].islower():
            continue  # a function of the family (torch.nn.functional.relu) is not a class
        assert _rules(_newobj(module, name)) == [], safe
        assert _rules(_obj(module, name)) == [], safe


@pytest.mark.parametrize("family", RECONSTRUCT_ONLY)
def test_calling_a_reconstruct_only_class_is_reported(family: str) -> None:
    module, name = _split(EXAMPLES[family][0][0])
    for data in (_reduce(module, name), _reconstructor_base(module, name), _obj(module, name, "x")):
        assert ("MLS-PKL-014", Severity.HIGH) in _rules(data), f"{module}.{name}"


def test_a_reconstruct_only_class_handed_to_a_callable_that_calls_it_is_reported() -> None:
    # numpy's __bit_generator_ctor(cls) returns cls(): TrainingArguments.__init__ would run.
    data = (
        Asm().proto(2).global_("numpy.random._pickle", "__bit_generator_ctor")
        .global_("transformers.training_args", "TrainingArguments").tuple1().reduce()
        .stop().bytes()
    )  # fmt: skip
    assert ("MLS-PKL-014", Severity.HIGH) in _rules(data)


def test_a_reconstruct_only_class_made_by_copyreg_newobj_is_clean() -> None:
    data = (
        Asm().proto(2).global_("copyreg", "__newobj__")
        .global_("transformers.training_args", "TrainingArguments").tuple1().reduce()
        .stop().bytes()
    )  # fmt: skip
    assert _rules(data) == []


def test_calling_a_callable_family_class_is_not_reported() -> None:
    data = (
        Asm().proto(2).global_("transformers.trainer_utils", "IntervalStrategy")
        .str("steps").tuple1().reduce().stop().bytes()
    )  # fmt: skip
    assert _rules(data) == []


def test_a_user_allowed_class_is_not_held_to_reconstruct_only() -> None:
    data = _reduce("mypkg.config", "Settings")
    scan = scan_pickle_bytes(data, policy=PicklePolicy(allow=("mypkg.*",)), origin="f")
    assert [f.rule for f in scan.findings] == []
