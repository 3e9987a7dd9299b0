"""Verdicts by name: allowlist first, inherited denylist, exact safe entries, user allows."""

from __future__ import annotations

import pytest
from pickle_asm import Asm

from pytest_mlsupply.engines.pickle import PicklePolicy, Verdict, decide, scan_pickle_bytes
from pytest_mlsupply.results import Severity


@pytest.mark.parametrize(
    ("module", "name", "verdict"),
    [
        ("os", "system", Verdict.DANGEROUS),
        ("os.path", "join", Verdict.DANGEROUS),
        ("posix", "system", Verdict.DANGEROUS),
        ("builtins", "eval", Verdict.DANGEROUS),
        ("builtins", "getattr", Verdict.DANGEROUS),
        ("__builtin__", "eval", Verdict.DANGEROUS),
        ("commands", "getoutput", Verdict.DANGEROUS),
        ("torch", "load", Verdict.DANGEROUS),
        ("torch.serialization", "load", Verdict.DANGEROUS),
        ("torch.storage", "_load_from_bytes", Verdict.DANGEROUS),
        ("torch", "os.system", Verdict.DANGEROUS),
        ("torch._utils", "_rebuild_tensor_v2.__globals__", Verdict.DANGEROUS),
        ("pathlib", "Path.write_text", Verdict.DANGEROUS),
        ("numpy.testing._private.utils", "runstring", Verdict.DANGEROUS),
        ("joblib", "load", Verdict.DANGEROUS),
        ("copyreg", "add_extension", Verdict.DANGEROUS),
        ("torch.serialization", "_get_layout", Verdict.SAFE),
        ("torch._utils", "_rebuild_tensor_v2", Verdict.SAFE),
        ("torch", "FloatStorage", Verdict.SAFE),
        ("collections", "OrderedDict", Verdict.SAFE),
        ("_codecs", "encode", Verdict.SAFE),
        ("__builtin__", "set", Verdict.SAFE),
        ("copy_reg", "_reconstructor", Verdict.SAFE),
        ("numpy._core.multiarray", "_reconstruct", Verdict.SAFE),
        ("joblib.numpy_pickle", "NumpyArrayWrapper", Verdict.SAFE),
        ("sklearn.ensemble._forest", "RandomForestClassifier", Verdict.SAFE),
        ("sklearn.utils._testing", "TempMemmap", Verdict.DANGEROUS),
        ("sklearn.ensemble._hist_gradient_boosting.binning", "_BinMapper", Verdict.SAFE),
        ("sklearn._loss._loss", "__pyx_unpickle_CyHalfMultinomialLoss", Verdict.SAFE),
        ("sklearn._loss._loss", "__pyx_unpickle_helper", Verdict.UNKNOWN),
        ("sklearn.metrics._dist_metrics", "newObj", Verdict.SAFE),
        ("operator", "itemgetter", Verdict.SUSPICIOUS),
        ("collections", "OrderedDict.fromkeys", Verdict.UNKNOWN),
        ("mypkg.models", "Net", Verdict.UNKNOWN),
        ("mypkg", "system", Verdict.SUSPICIOUS),
    ],
)
def test_each_global_gets_its_verdict_by_name(module: str, name: str, verdict: Verdict) -> None:
    assert decide(module, name).verdict is verdict


def test_an_unknown_global_fails_under_default_deny_and_is_low_under_denylist() -> None:
    data = Asm().proto(2).global_("mypkg.models", "Net").empty_tuple().newobj().stop().bytes()

    deny = scan_pickle_bytes(data, policy=PicklePolicy(), origin="f")
    lenient = scan_pickle_bytes(data, policy=PicklePolicy(mode="denylist"), origin="f")

    assert [(f.rule, f.severity) for f in deny.findings] == [("MLS-PKL-003", Severity.HIGH)]
    assert [(f.rule, f.severity) for f in lenient.findings] == [("MLS-PKL-003", Severity.LOW)]


@pytest.mark.parametrize("pattern", ["mypkg.models.Net", "mypkg.*"])
def test_a_policy_can_allow_named_globals(pattern: str) -> None:
    data = Asm().proto(2).global_("mypkg.models", "Net").empty_tuple().newobj().stop().bytes()

    result = scan_pickle_bytes(data, policy=PicklePolicy(allow=(pattern,)), origin="f")

    assert result.findings == []


def test_allowing_a_package_never_allows_the_dangerous_modules_it_re_exports() -> None:
    data = Asm().proto(4).global_("torch", "os.system").stop().bytes()

    result = scan_pickle_bytes(data, policy=PicklePolicy(allow=("torch.*",)), origin="f")

    assert [f.rule for f in result.findings] == ["MLS-PKL-001"]


def test_an_unknown_policy_mode_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="default-deny"):
        PicklePolicy(mode="strict")  # type: ignore[arg-type]


def test_torchscript_identity_builders_are_safe_but_the_rest_of_torch_jit_is_not() -> None:
    from pytest_mlsupply.engines.pickle import Verdict, decide

    for name in ("build_intlist", "build_tensorlist", "restore_type_tag"):
        assert decide("torch.jit._pickle", name).verdict is Verdict.SAFE
    assert decide("torch.jit", "load").verdict is Verdict.DANGEROUS
    assert decide("torch.jit._pickle", "something_else").verdict is Verdict.DANGEROUS


def test_a_notorious_name_reexported_by_sklearn_is_not_trusted_as_an_estimator() -> None:
    from pytest_mlsupply.engines.pickle import Verdict, decide

    assert decide("sklearn.utils", "Popen").verdict is not Verdict.SAFE
    assert decide("sklearn.utils", "_Popen").verdict is not Verdict.SAFE
    assert decide("sklearn.linear_model._base", "LinearRegression").verdict is Verdict.SAFE
    assert decide("scipy.sparsex", "csr_matrix").verdict is not Verdict.SAFE
