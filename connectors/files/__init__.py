"""Files on disk: atomic JSON snapshots under data/, consistent reads and writes of the
rule files, and backtest report files (CSV, PNG, HTML).

May import the adapters only; never notify, market, stores or loops.
"""
