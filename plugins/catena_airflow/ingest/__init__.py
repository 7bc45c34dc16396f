"""Fleet ingestion without Airflow: the dlt source and pipeline (``dlt_pipeline.load_fleet``), and the
operations database's bookkeeping (``store``). Import the submodules: dlt takes seconds to import, and DAG
files that only need the store must not pay for it."""
