"""A sample support chatbot for a fictional electronics store, traced with llmmon."""
