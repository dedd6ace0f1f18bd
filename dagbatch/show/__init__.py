"""`dagbatch show`: a folded picture of the compiled plan (what Batch receives), with live
state.

``fold_plan(view)`` gives a ``Picture``; ``render(picture, fmt)`` draws it as text, mermaid,
dot, svg or html. ``view_of_compiled`` / ``view_of_plan_dir`` read the plan.
"""
