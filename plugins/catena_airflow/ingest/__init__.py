"""Fleet ingestion without Airflow: the dlt source and pipeline (``dlt_pipeline.load_fleet``); its
bookkeeping (the sync ledger) is in the inbox. Import the submodules: dlt takes seconds to import, and DAG
files that need only a light part must not pay for it."""
