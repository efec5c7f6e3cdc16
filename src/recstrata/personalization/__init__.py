"""Layer 3: grounded explanations (and later LLM reranking and the conversational agent)."""
