"""A small sentiment-classification service: the code that the example's supply chain feeds."""

from __future__ import annotations

from sentiment_service.service import DEFAULT_MODEL_DIR, SentimentModel, WordPieceTokenizer

__all__ = ["DEFAULT_MODEL_DIR", "SentimentModel", "WordPieceTokenizer"]
