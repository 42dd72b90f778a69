FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FLASK_APP=nootification
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# /keys and /stub-keys: the push-keys and stub-keys volumes of docker-compose.yml take these directories'
# owner when first created.
RUN useradd --system --home /app nootification && mkdir /keys /stub-keys \
    && chown -R nootification /app /keys /stub-keys
USER nootification
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "wsgi:app"]
