-- End-to-end load through the SQL functions, on the files bench_loaders wrote.
\set ON_ERROR_STOP on
\getenv dir VQAPRUNE_BENCH_DIR
\set questions :dir '/questions.json'
\set annotations :dir '/annotations.json'
\set tsv :dir '/features.tsv'
CREATE EXTENSION IF NOT EXISTS vqaprune;
SELECT clock_timestamp() AS t0 \gset
SELECT vqa_load_questions('bench', 'train', :'questions', :'annotations') AS n_questions \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS secs \gset
SELECT format('sql_load_questions  %s questions  %s s  %s questions/s',
              :n_questions, round(:secs, 2), round(:n_questions / :secs)) AS line \gset
\echo :line
SELECT clock_timestamp() AS t0 \gset
SELECT vqa_load_features('bench', :'tsv') AS n_images \gset
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS secs \gset
SELECT (pg_stat_file(:'tsv')).size / 1e6 AS mb \gset
SELECT format('sql_load_features   %s images  %s MB  %s s  %s MB/s',
              :n_images, round(:mb, 1), round(:secs, 2), round(:mb / :secs)) AS line \gset
\echo :line
