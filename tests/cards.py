"""Model cards in the style of widely used models, written for these tests (not copied).

Each style comes complete; the tests derive incomplete, synonym and placeholder variants from
them with small, visible edits, so a test shows exactly what it changed.
"""

from __future__ import annotations

#: A BERT-style encoder card: front matter without base_model, "Intended uses & limitations"
#: covering two parts, "Limitations and bias" as a sub-section, results in a model-index.
BERT_ENCODER = """\
---
language: en
license: apache-2.0
tags:
- exbert
datasets:
- bookcorpus
- wikipedia
pipeline_tag: fill-mask
model-index:
- name: bert-style-base-uncased
  results:
  - task: {type: text-classification, name: Text Classification}
    dataset: {name: GLUE MRPC, type: glue, config: mrpc, split: validation}
    metrics:
    - {type: f1, value: 88.9, name: F1}
    - {type: accuracy, value: 84.6, name: Accuracy}
---

# BERT-style base model (uncased)

Pretrained on English text with a masked language modeling (MLM) objective.

## Model description

A transformers encoder pretrained on a large corpus of English data in a self-supervised
fashion: 15% of the words of a sentence are masked and the model predicts them.

## Intended uses & limitations

You can use the raw model for masked language modeling or next sentence prediction, but it is
mostly intended to be fine-tuned on a downstream task such as sequence classification. For text
generation you should look at a model like GPT-2.

### How to use

```python
# the pipeline API
from transformers import pipeline
unmasker = pipeline('fill-mask', model='bert-style-base-uncased')
```

### Limitations and bias

Even if the training data is fairly neutral, this model can have biased predictions: it
completes "The man worked as a [MASK]." and "The woman worked as a [MASK]." differently.

## Training data

Pretrained on BookCorpus, 11,038 unpublished books, and English Wikipedia (excluding lists,
tables and headers).

## Training procedure

### Preprocessing

Lowercased and tokenized with WordPiece, a vocabulary of 30,000.

## Evaluation results

When fine-tuned on downstream tasks, this model achieves the results in the model-index.
"""

#: A Llama-style chat model card: a community licence named by license: other, gated access
#: fields, parts written as bold labels inside "Intended Use", no heading per part.
LLAMA_CHAT = """\
---
language: [en, de, fr, it, pt, hi, es, th]
license: other
license_name: llama3.1
license_link: LICENSE
base_model: meta-llama/Llama-3.1-8B
pipeline_tag: text-generation
tags: [facebook, meta, pytorch, llama, llama-3]
datasets: [acme/chat-preferences]
extra_gated_prompt: >-
  LLAMA 3.1 COMMUNITY LICENSE AGREEMENT. By clicking "I Accept" you agree to the terms.
extra_gated_fields:
  First Name: text
  Last Name: text
  Country: country
  Affiliation: text
  geo: ip_location
  By clicking Submit below I accept the terms of the license: checkbox
extra_gated_button_content: Submit
model-index:
- name: llama-style-8b-instruct
  results:
  - task: {type: text-generation}
    dataset: {name: MMLU, type: cais/mmlu, config: all, split: test}
    metrics:
    - {type: acc, value: 69.4, name: macro average accuracy (5-shot)}
---

## Model Information

A collection of multilingual large language models, pretrained and instruction tuned
generative models in 8B size. The instruction tuned text only models are optimized for
multilingual dialogue use cases.

**Model developer:** Acme

## Intended Use

**Intended Use Cases** Intended for commercial and research use in multiple languages.
Instruction tuned text only models are intended for assistant-like chat.

**Out-of-scope** Use in any manner that violates applicable laws or regulations (including trade
compliance laws). Use in any other way that is prohibited by the Acceptable Use Policy and the
Community License.

## Training Data

Pretrained on ~15 trillion tokens of data from publicly available sources. The fine-tuning data
includes publicly available instruction datasets and over 25M synthetically generated examples.

## Benchmark scores

| Category | Benchmark | # Shots | Metric | Score |
|---|---|---|---|---|
| General | MMLU | 5 | macro_avg/acc | 69.4 |

## Ethical Considerations and Limitations

The core values are openness, inclusivity and helpfulness. Like every LLM, the model may produce
inaccurate, biased or otherwise objectionable responses to user prompts; developers should
perform safety testing and tuning tailored to their applications before deployment.
"""

#: A LoRA adapter card as the PEFT / Hub template writes it, every part filled in.
LORA_ADAPTER = """\
---
base_model: meta-llama/Llama-3.1-8B-Instruct
library_name: peft
license: llama3.1
datasets:
- HuggingFaceH4/ultrachat_200k
language:
- en
pipeline_tag: text-generation
tags:
- lora
- sft
- trl
model-index:
- name: support-assistant-lora
  results:
  - task: {type: text-generation}
    dataset: {name: support-tickets-eval, type: acme/support-tickets, split: test}
    metrics:
    - {type: rougeL, value: 0.412}
---

# Model Card for support-assistant-lora

<!-- Provide a quick summary of what the model is/does. -->

A LoRA adapter that tunes a chat model to answer customer-support tickets.

## Model Details

### Model Description

<!-- Provide a longer summary of what this model is. -->

A rank-16 LoRA adapter on the attention projections of the base model.

- **Developed by:** Acme support tooling team
- **Model type:** LoRA adapter
- **Finetuned from model:** meta-llama/Llama-3.1-8B-Instruct

## Uses

### Direct Use

Drafting replies to customer-support tickets for a human agent to review.

### Downstream Use [optional]

[More Information Needed]

### Out-of-Scope Use

Sending replies without human review; legal, medical or financial advice.

## Bias, Risks, and Limitations

Trained on English tickets of one company: it invents product details it has not seen and
answers other languages poorly.

### Recommendations

Users (both direct and downstream) should be made aware of the risks, biases and limitations of
the model. Keep a human in the loop for every reply.

## Training Details

### Training Data

HuggingFaceH4/ultrachat_200k, filtered to support-style dialogues.

### Training Procedure

#### Training Hyperparameters

- **Training regime:** bf16 mixed precision

## Evaluation

### Results

See the model-index.

### Framework versions

- PEFT 0.13.2
"""

#: The same LoRA card straight from the template: every section a placeholder.
LORA_TEMPLATE = """\
---
base_model: meta-llama/Llama-3.1-8B-Instruct
library_name: peft
---

# Model Card for Model ID

<!-- Provide a quick summary of what the model is/does. -->

## Model Details

### Model Description

<!-- Provide a longer summary of what this model is. -->

This is the model card of a 🤗 transformers model that has been pushed on the Hub. This model card has been automatically generated.

- **Developed by:** [More Information Needed]
- **Model type:** [More Information Needed]

## Uses

### Direct Use

<!-- This section is for the model use without fine-tuning or plugging into a larger ecosystem/app. -->

[More Information Needed]

### Out-of-Scope Use

[More Information Needed]

## Bias, Risks, and Limitations

[More Information Needed]

### Recommendations

Users (both direct and downstream) should be made aware of the risks, biases and limitations of the model. More information needed for further recommendations.

## How to Get Started with the Model

Use the code below to get started with the model.

[More Information Needed]

## Training Details

### Training Data

[More Information Needed]

### Training Procedure

#### Training Hyperparameters

- **Training regime:** bf16 mixed precision

## Evaluation

### Results

[More Information Needed]

### Framework versions

- PEFT 0.13.2
"""

#: ``adapter_config.json`` of the LoRA adapter (what PEFT writes, trimmed).
LORA_ADAPTER_CONFIG = {
    "peft_type": "LORA",
    "base_model_name_or_path": "meta-llama/Llama-3.1-8B-Instruct",
    "task_type": "CAUSAL_LM",
    "r": 16,
    "lora_alpha": 32,
    "target_modules": ["q_proj", "v_proj"],
}

EVERY_PART = (
    "license",
    "base_model",
    "datasets",
    "language",
    "intended_use",
    "out_of_scope_use",
    "limitations",
    "training_data",
    "evaluation",
)
