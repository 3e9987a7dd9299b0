"""MLflow model directories: the MLmodel flavors that make loading run code, and real models."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding, Severity


def scan_dir(directory: Path) -> list[Finding]:
    findings: list[Finding] = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        report = scan_file(path, path.relative_to(directory).as_posix())
        assert report.errors == [], report.errors
        findings += report.findings
    return findings


def scan_mlmodel(tmp_path: Path, text: str, name: str = "MLmodel") -> list[Finding]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    report = scan_file(path, name)
    assert report.errors == []
    return report.findings


def test_a_custom_loader_module_is_high_and_names_its_file(tmp_path: Path) -> None:
    [code, loader] = scan_mlmodel(
        tmp_path,
        """\
        flavors:
          python_function:
            loader_module: pkg.my_loader
            code: code
        """,
    )
    assert (loader.rule, loader.severity) == ("MLS-MLF-001", Severity.HIGH)
    assert "code/pkg/my_loader.py" in loader.evidence
    assert loader.location.key_path == "flavors.python_function.loader_module"
    assert (code.rule, code.severity) == ("MLS-MLF-002", Severity.MEDIUM)


def test_mlflow_s_own_loader_modules_are_not_reported(tmp_path: Path) -> None:
    text = "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
    assert scan_mlmodel(tmp_path, text) == []


def test_a_loader_module_the_policy_calls_dangerous_is_critical(tmp_path: Path) -> None:
    text = "flavors:\n  python_function:\n    loader_module: os.system\n"
    [finding] = scan_mlmodel(tmp_path, text)
    assert finding.severity is Severity.CRITICAL


def test_models_from_code_name_the_file_mlflow_runs(tmp_path: Path) -> None:
    text = """\
    flavors:
      python_function:
        loader_module: mlflow.pyfunc.loaders.code_model
        model_code_path: /home/me/src/agent.py
    """
    [finding] = scan_mlmodel(tmp_path, text)
    assert (finding.rule, finding.severity) == ("MLS-MLF-003", Severity.HIGH)
    assert "agent.py" in finding.title


def test_a_flavor_path_leaving_the_model_directory_is_high(tmp_path: Path) -> None:
    text = """\
    flavors:
      sklearn:
        pickled_model: ../../elsewhere/model.pkl
        serialization_format: skops
      keras:
        data: /etc/passwd
    """
    findings = scan_mlmodel(tmp_path, text)
    assert [(f.rule, f.location.key_path) for f in findings] == [
        ("MLS-MLF-006", "flavors.sklearn.pickled_model"),
        ("MLS-MLF-006", "flavors.keras.data"),
    ]


def test_a_custom_torch_pickle_module_is_high(tmp_path: Path) -> None:
    text = "flavors:\n  pytorch:\n    model_data: data\n    pickle_module_name: evil.unpickler\n"
    [finding] = scan_mlmodel(tmp_path, text)
    assert (finding.rule, finding.severity) == ("MLS-MLF-007", Severity.HIGH)


def test_flavors_hidden_behind_anchors_and_duplicates_are_read(tmp_path: Path) -> None:
    text = """\
    base: &f {loader_module: mlflow.sklearn}
    flavors:
      python_function: *f
      python_function: {loader_module: evil_loader}
    """
    assert [f.rule for f in scan_mlmodel(tmp_path, text)] == ["MLS-MLF-001"]


def test_a_renamed_mlmodel_is_still_read_by_its_flavors_key(tmp_path: Path) -> None:
    text = "flavors:\n  python_function:\n    loader_module: evil_loader\n"
    assert [f.rule for f in scan_mlmodel(tmp_path, text, "model.yaml")] == ["MLS-MLF-001"]


# MLflow warns about type hints and pickle formats while saving: its own advice, not ours.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.needs("mlflow", "sklearn", "skops")
@pytest.mark.parametrize("serialization", ["skops", "cloudpickle", "pickle"])
def test_a_model_saved_by_mlflow_sklearn_is_not_failed(tmp_path: Path, serialization: str) -> None:
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    # Requirements given, so mlflow does not infer them by loading the model in a subprocess.
    mlflow.sklearn.save_model(
        model,
        tmp_path / "m",
        serialization_format=serialization,
        pip_requirements=["scikit-learn"],
    )
    findings = scan_dir(tmp_path / "m")
    assert [f.render() for f in findings if f.severity >= Severity.HIGH] == []
    expected = [] if serialization == "skops" else ["MLS-MLF-005"]
    assert [f.rule for f in findings if f.severity > Severity.INFO] == expected


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.needs("mlflow", "cloudpickle")
def test_a_python_model_saved_by_mlflow_pyfunc_is_reported_as_code(tmp_path: Path) -> None:
    import mlflow.pyfunc

    class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: object, model_input: list[str]) -> list[str]:
            return model_input

    mlflow.pyfunc.save_model(tmp_path / "m", python_model=Echo(), pip_requirements=["mlflow"])
    findings = scan_dir(tmp_path / "m")
    by_rule = {f.rule: f for f in findings}
    assert by_rule["MLS-MLF-004"].severity is Severity.HIGH
    assert "python_model.pkl" in by_rule["MLS-MLF-004"].title
    # The pickle engine reports cloudpickle's code reconstructors in python_model.pkl.
    reconstructors = [
        f
        for f in findings
        if f.rule == "MLS-PKL-001" and f.location.file == "python_model.pkl"
        if "cloudpickle" in f.title and f.severity is Severity.CRITICAL
    ]
    assert any("_make_function" in f.title for f in reconstructors)


@pytest.mark.parametrize(
    ("merge", "rule"),
    [
        ("<<: {model_code_path: model_src.py}", "MLS-MLF-003"),
        ("<<: [{loader_module: my_loader}, {loader_module: mlflow.sklearn}]", "MLS-MLF-001"),
        ("<<: *base", "MLS-MLF-001"),
    ],
)
def test_flavor_keys_brought_in_by_a_merge_key_are_read(
    tmp_path: Path, merge: str, rule: str
) -> None:
    text = f"""\
    base: &base {{loader_module: my_loader}}
    flavors:
      python_function:
        {merge}
        python_version: 3.11.7
    """
    findings = scan_mlmodel(tmp_path, text)
    assert (rule, Severity.HIGH) in [(f.rule, f.severity) for f in findings]


def test_an_explicit_flavor_key_overrides_a_merged_one(tmp_path: Path) -> None:
    text = """\
    flavors:
      python_function:
        <<: {loader_module: my_loader}
        loader_module: mlflow.sklearn
    """
    assert scan_mlmodel(tmp_path, text) == []
