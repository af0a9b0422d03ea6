FROM python:3.11-slim
WORKDIR /srv/takes
ENV PYTHONUNBUFFERED=1 MEDIA_DIR=/data/media
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# Editable: the app finds templates/, static/ and migrations/ next to its package, so it must run from here.
RUN pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["sh", "-c", "takes migrate && takes serve --host 0.0.0.0 --port 8000"]
