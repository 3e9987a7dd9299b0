"""The typosquat detector against real-world look-alikes and real projects that resemble each other.

Look-alikes follow the incidents reported on PyPI (``colourama``, ``python3-dateutil``,
``jeIlyfish``, ``urlib3``, ``reqeusts``, ``setup-tools``, ``djanga``, ``torchtriton``) and the same
transformations applied to the ML ecosystem. Each row names the project imitated, the
transformation and whether the resemblance is confident (high) or weaker (medium).
"""

from __future__ import annotations

import pytest

from pytest_mlsupply.typosquat.detector import Detector, vendored_detector
from pytest_mlsupply.typosquat.popular import from_texts, vendored

HIGH, MEDIUM = True, False

LOOKALIKES: list[tuple[str, str, str, bool]] = [
    ("colourama", "colorama", "inserted", HIGH),
    ("python3-dateutil", "python-dateutil", "affix", HIGH),
    ("jeIlyfish", "jellyfish", "look-alike", HIGH),
    ("urlib3", "urllib3", "omitted-double", HIGH),
    ("reqeusts", "requests", "swapped", HIGH),
    ("torchtriton", "triton", "glued", HIGH),
    ("tenserflow", "tensorflow", "vowel", HIGH),
    ("transfomers", "transformers", "omitted", HIGH),
    ("openai-official", "openai", "affix", HIGH),
    ("pytorch-nightly", "pytorch", "affix", MEDIUM),
    ("setup-tools", "setuptools", "separators", HIGH),
    ("djanga", "django", "vowel", HIGH),
    ("diango", "django", "keyboard", HIGH),
    ("numpay", "numpy", "inserted", HIGH),
    ("beautifulsup4", "beautifulsoup4", "omitted", HIGH),
    ("matplotib", "matplotlib", "omitted", HIGH),
    ("tensoflow", "tensorflow", "omitted", HIGH),
    ("pytorch-lightening", "pytorch-lightning", "inserted", HIGH),
    ("pandsa", "pandas", "swapped", HIGH),
    ("pandass", "pandas", "repeated", HIGH),
    ("scikit-lern", "scikit-learn", "omitted", HIGH),
    ("sklaern", "sklearn", "swapped", HIGH),
    ("huggingfacehub", "huggingface-hub", "separators", HIGH),
    ("hugginface-hub", "huggingface-hub", "omitted", HIGH),
    ("huggingface-hubb", "huggingface-hub", "repeated", HIGH),
    ("hugging_face-hub", "huggingface-hub", "separators", HIGH),
    ("huggingface_hub-py", "huggingface-hub", "affix", HIGH),
    ("hub-huggingface", "huggingface-hub", "word-order", HIGH),
    ("safetensor", "safetensors", "plural", MEDIUM),
    ("safe-tensors", "safetensors", "separators", HIGH),
    ("safetensers", "safetensors", "vowel", HIGH),
    ("tokenizer", "tokenizers", "plural", MEDIUM),
    ("tokenisers", "tokenizers", "keyboard", HIGH),
    ("acelerate", "accelerate", "omitted-double", HIGH),
    ("difusers", "diffusers", "omitted-double", HIGH),
    ("vllm-py", "vllm", "affix", HIGH),
    ("lang-chain", "langchain", "separators", HIGH),
    ("langchian", "langchain", "swapped", HIGH),
    ("langchain-official", "langchain", "affix", HIGH),
    ("open-ai", "openai", "separators", HIGH),
    ("openai-sdk", "openai", "affix", MEDIUM),
    ("torch-gpu", "torch", "affix", MEDIUM),
    ("vllm-cuda", "vllm", "affix", MEDIUM),
    ("antropic", "anthropic", "omitted", HIGH),
    ("anthropic-sdk", "anthropic", "affix", MEDIUM),
    ("torchvison", "torchvision", "omitted", HIGH),
    ("torch-vision", "torchvision", "separators", HIGH),
    ("torchaudi0", "torchaudio", "look-alike", HIGH),
    ("tensorfl0w", "tensorflow", "look-alike", HIGH),
    ("tensorflovv", "tensorflow", "look-alike", HIGH),
    ("transformerss", "transformers", "repeated", HIGH),
    ("transformers2", "transformers", "affix", MEDIUM),
    ("transformers-py", "transformers", "affix", HIGH),
    ("python-torch", "torch", "affix", HIGH),
    ("torch-py", "torch", "affix", HIGH),
    ("the-torch", "torch", "affix", HIGH),
    ("pilllow", "pillow", "repeated", HIGH),
    ("pilow", "pillow", "omitted-double", MEDIUM),
    ("opencv-pyhton", "opencv-python", "swapped", HIGH),
    ("python-opencv", "opencv-python", "word-order", HIGH),
    ("boto-3", "boto3", "separators", HIGH),
    ("botto3", "boto3", "repeated", HIGH),
    ("reqests", "requests", "omitted", HIGH),
    ("requezts", "requests", "keyboard", HIGH),
    ("requestss", "requests", "repeated", HIGH),
    ("rnatplotlib", "matplotlib", "look-alike", HIGH),
    ("nunpy", "numpy", "keyboard", MEDIUM),
    ("nurnpy", "numpy", "look-alike", HIGH),
    ("b0to3", "boto3", "look-alike", HIGH),
    ("xgboots", "xgboost", "swapped", HIGH),
    ("lightgmb", "lightgbm", "swapped", HIGH),
    ("catbost", "catboost", "omitted-double", HIGH),
    ("flassk", "flask", "repeated", HIGH),
    ("djangoo", "django", "repeated", HIGH),
    ("urllib-3", "urllib3", "separators", HIGH),
    ("charset-normaliser", "charset-normalizer", "keyboard", HIGH),
    ("certifii", "certifi", "repeated", HIGH),
    ("cryptograpy", "cryptography", "omitted", HIGH),
    ("py-yaml", "pyyaml", "separators", HIGH),
    ("jinja-2", "jinja2", "separators", HIGH),
    ("markup-safe", "markupsafe", "separators", HIGH),
    ("tik-token", "tiktoken", "separators", HIGH),
    ("sentencepeice", "sentencepiece", "swapped", HIGH),
    ("bits-and-bytes", "bitsandbytes", "separators", HIGH),
    ("deepspeeed", "deepspeed", "repeated", HIGH),
    ("flash-atn", "flash-attn", "omitted-double", HIGH),
    ("onnxruntme", "onnxruntime", "omitted", HIGH),
    ("onnx-runtime", "onnxruntime", "separators", HIGH),
    ("llamaindex", "llama-index", "separators", HIGH),
    ("langchain-openai2", "langchain-openai", "affix", MEDIUM),
    ("tensorflow-official", "tensorflow", "affix", HIGH),
    ("scikitlearn", "scikit-learn", "separators", HIGH),
    ("kerass", "keras", "repeated", HIGH),
    ("pydantc", "pydantic", "omitted", HIGH),
    ("fast-api", "fastapi", "separators", HIGH),
]

LEGITIMATE: list[str] = [
    "requests",
    "requests-toolbelt",
    "requests-oauthlib",
    "requests-mock",
    "requests-file",
    "requests-aws4auth",
    "jinja2",
    "jinja",
    "jinja2-time",
    "torch",
    "torchvision",
    "torchaudio",
    "torchmetrics",
    "torchdata",
    "torchtext",
    "torchlibrosa",
    "torch-optimizer",
    "torch-geometric",
    "torchserve",
    "pytorch",
    "pytorch-lightning",
    "lightning",
    "lightning-utilities",
    "lightning-bolts",
    "pytorch-lightning-bolts",
    "python-dateutil",
    "dateparser",
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tensorflow-io-gcs-filesystem",
    "tensorflow-addons",
    "tensorflow-hub",
    "tensorflow-datasets",
    "tensorflow-estimator",
    "tensorboard",
    "tensorboard-data-server",
    "tf-keras",
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
    "google-auth",
    "google-auth-oauthlib",
    "google-auth-httplib2",
    "google-api-core",
    "google-api-python-client",
    "pillow",
    "pillow-heif",
    "pillow-avif-plugin",
    "numpy",
    "numba",
    "numexpr",
    "pandas",
    "pandas-stubs",
    "polars",
    "scipy",
    "scikit-learn",
    "scikit-image",
    "sklearn",
    "transformers",
    "sentence-transformers",
    "spacy-transformers",
    "transformers-stream-generator",
    "tokenizers",
    "tiktoken",
    "sentencepiece",
    "safetensors",
    "huggingface-hub",
    "hf-transfer",
    "hf-xet",
    "datasets",
    "evaluate",
    "accelerate",
    "diffusers",
    "peft",
    "trl",
    "vllm",
    "xformers",
    "langchain",
    "langchain-core",
    "langchain-community",
    "langchain-openai",
    "langchain-anthropic",
    "langchain-text-splitters",
    "langgraph",
    "langsmith",
    "openai",
    "openai-agents",
    "anthropic",
    "boto3",
    "botocore",
    "boto",
    "s3transfer",
    "aiobotocore",
    "urllib3",
    "urllib3-secure-extra",
    "colorama",
    "coloredlogs",
    "colorlog",
    "jellyfish",
    "attrs",
    "cattrs",
    "pyyaml",
    "ruamel-yaml",
    "typing-extensions",
    "typing-inspection",
    "mypy-extensions",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "fastapi",
    "starlette",
    "httpx",
    "httpcore",
    "aiohttp",
    "aiosignal",
    "six",
    "idna",
    "certifi",
    "charset-normalizer",
    "markupsafe",
    "click",
    "flask",
    "django",
    "celery",
    "redis",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "keras",
    "keras-tuner",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "xgboost",
    "lightgbm",
    "catboost",
    "mlflow",
    "mlflow-skinny",
    "wandb",
    "ray",
    "triton",
    "einops",
    "timm",
    "bitsandbytes",
    "gradio",
    "gradio-client",
    "streamlit",
    "acme-sentiment-service",
    "mycompany-feature-store",
    "internal-model-registry",
    "transformers-interpret",
    "keras-cv",
    "opencv-python-rolling",
    "torch-sparse",
    "torch-cluster",
    "diffusers-interpret",
    "onnx-simplifier",
    "anthropic-bedrock",
    "torch-pruning",
    "torch-lr-finder",
]
"""Real projects, many of them close to each other, and private names; none may be flagged.
Most are on the popular list (a listed name is never flagged, however close it is to another);
``jinja``, ``lightning-bolts``, ``torch-sparse``, ``keras-cv``, ``transformers-interpret``,
``onnx-simplifier`` and others are real projects below the top 15,000, and the last three are
the kind of private names a company publishes to its own index."""


@pytest.mark.parametrize(("name", "imitates", "kind", "confident"), LOOKALIKES)
def test_a_real_world_lookalike_is_flagged_naming_the_project_and_how(
    name: str, imitates: str, kind: str, confident: bool
) -> None:
    found = vendored_detector().check(name)

    assert found is not None, f"{name} is not flagged"
    assert (found.imitates, found.kind, found.confident) == (imitates, kind, confident)
    assert found.how


@pytest.mark.parametrize("name", LEGITIMATE)
def test_a_legitimate_project_is_not_flagged(name: str) -> None:
    assert vendored_detector().check(name) is None


def test_the_tables_are_large_enough_to_prove_the_check() -> None:
    assert len({row[0] for row in LOOKALIKES}) >= 80
    assert len(set(LEGITIMATE)) >= 80
    assert not {row[0] for row in LOOKALIKES} & set(LEGITIMATE)


@pytest.mark.parametrize(
    "written",
    ["Jinja2", "huggingface_hub", "PyYAML", "typing_extensions", "Pillow", "scikit_learn", "Torch"],
)
def test_a_popular_project_written_in_another_spelling_pip_accepts_is_not_flagged(
    written: str,
) -> None:
    assert vendored_detector().check(written) is None


def test_a_name_on_the_popular_list_is_never_flagged_however_close_to_another() -> None:
    ranking = "requests\nrequests-toolbelt\nreqeusts\ntorch\npython-torch\n"
    detector = Detector(from_texts(ranking))

    assert detector.check("reqeusts") is None  # listed: never flagged
    assert detector.check("python-torch") is None
    assert detector.check("requestss") is not None  # not listed: flagged


def test_every_name_of_the_vendored_lists_passes() -> None:
    popular = vendored()
    detector = vendored_detector()

    flagged = [name for name in popular.names if detector.check(name) is not None]

    assert flagged == []
    assert len(popular.names) > 14_000


def test_a_lookalike_of_a_less_known_project_is_a_weaker_signal() -> None:
    ranking = "\n".join(f"filler{i:05d}" for i in range(3000)) + "\nobscurelib\n"
    detector = Detector(from_texts(ranking, ml="torchish\n"))

    obscure = detector.check("obscurelibb")
    ml = detector.check("torchishh")

    assert obscure is not None
    assert not obscure.confident  # rank 3001: medium
    assert ml is not None
    assert ml.confident  # on the ML list: high whatever its rank


HONEST_NEIGHBOURS = Detector(
    from_texts(
        "jinja2\nbeautifulsoup4\nlocket\ncupy-cuda12x\nlangchain\nlangchain-core\n"
        "langchain-ollama\npython-dateutil\nsix\nninja\njina\n",
        ml="spacy\ntransformers\n",
    )
)
"""Popular names whose honest neighbours (below) are deliberately left off the list."""


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (
            "jinja",
            "jinja2 without its version digit is the older project; ninja differs in the first "
            "letter; jina is one letter in five short",
        ),
        ("beautifulsoup", "beautifulsoup4 without its digit"),
        ("mocket", "one consonant for another that is no keyboard neighbour (locket)"),
        ("cupy-cuda11x", "one version digit for another (cupy-cuda12x)"),
        ("langchain-code", "a four-letter word of the langchain family differs (langchain-core)"),
        ("langchain-llama", "the first letter of the word that differs (langchain-ollama)"),
        ("dateutil", "a prefix removed from python-dateutil"),
        ("spacy-transformers", "two ML names joined by a separator: a plugin, not a glued name"),
        ("six-py", "a three-letter project (six) is too short to be matched at all"),
    ],
)
def test_what_honest_names_share_with_popular_ones_is_not_a_disguise(name: str, why: str) -> None:
    assert name not in HONEST_NEIGHBOURS.popular
    assert HONEST_NEIGHBOURS.check(name) is None, why


def test_a_name_one_s_short_of_a_popular_project_is_only_a_weak_signal() -> None:
    # ``dateutil`` is not on PyPI; ``dateutils`` is popular. An ``s`` more or less is how honest
    # projects are named too (``dataset`` / ``datasets``), so it is medium, never high, and it
    # is never taken for ``python-dateutil`` with its prefix removed.
    found = vendored_detector().check("dateutil")

    assert found is not None
    assert (found.imitates, found.kind, found.confident) == ("dateutils", "plural", False)


@pytest.mark.parametrize(("name", "successor_of"), [("httpx2", "httpx"), ("httpcore2", "httpcore")])
def test_a_numbered_successor_is_only_a_weak_signal(name: str, successor_of: str) -> None:
    # Real forks, newer than the vendored ranking, that huggingface_hub depends on: a numbered
    # name is how honest successors are named too, so it warns (medium) and never fails at high.
    found = vendored_detector().check(name)

    assert found is not None
    assert (found.imitates, found.kind, found.confident) == (successor_of, "affix", False)
