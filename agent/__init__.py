"""The travel agent: context, state, graph, tools, model factory and policy checks."""
