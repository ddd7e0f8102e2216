"""Monitor: skew and drift of serving traffic, live quality, and the retraining policy.

window.py reads a window of request logs; compare.py computes TFDV statistics, distances and
two-sample tests; quality.py joins delayed labels; policy.py decides what to do; core.py ties
them together; component.py is the KFP wrapper.
"""
