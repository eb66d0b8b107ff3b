"""The loan-default demo: one example of a monitored model, kept apart from the product.

Its data generator, trainer variant, fault scenarios and spec live here; `mlmon demo` and
`mlmon replay --scenario NAME` reach it through entry points, and no product module imports it.
"""
