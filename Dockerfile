# The project on the official Airflow image: every component (api-server with the webhook receiver,
# scheduler, dag-processor, triggerer, Celery worker) and the optional sandbox run from this image.
FROM apache/airflow:3.3.2-python3.11

# The production lock first (requirements.txt: every package pinned and hashed, made by `make lock`;
# apache-airflow==3.3.2 is already there, so this layer is small and cached until the lock changes).
COPY --chown=airflow:root requirements.txt /opt/catena/requirements.txt
RUN pip install --no-cache-dir --require-hashes -r /opt/catena/requirements.txt

# The provider and plugin, installed as a package: the api-server finds the plugin through its
# `airflow.plugins` entry point and the triggerer imports the triggers from site-packages, so the plugins
# folder stays empty. The sandbox is a distribution of its own (`catena-sandbox`), installed here for the
# compose file's optional `sandbox` profile; an Airflow of your own needs the provider only.
COPY --chown=airflow:root pyproject.toml README.md /opt/catena/
COPY --chown=airflow:root plugins /opt/catena/plugins
COPY --chown=airflow:root sandbox /opt/catena/sandbox
RUN pip install --no-cache-dir --no-deps /opt/catena /opt/catena/sandbox

COPY --chown=airflow:root dags /opt/airflow/dags
