-- Fine-tuning throughput through SQL (vqa_finetune: reading the split from
-- the tables, training, storing the model) against the core's own training
-- steps inside the same call (recorded in the model's metrics).
\set ON_ERROR_STOP on
CREATE EXTENSION IF NOT EXISTS vqaprune;
SET vqaprune.threads = 2;
SELECT vqa_synthetic('bench_synth', images => 1000, seed => 0) \g /dev/null
SELECT vqa_create_model('bench_tiny', 'bench_synth',
       '{"hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
         "l_layers": 2, "r_layers": 1, "x_layers": 2, "max_position_embeddings": 32}') \g /dev/null
SELECT clock_timestamp() AS t0 \gset
SELECT vqa_finetune('bench_tiny', 'bench_synth', 'lmh', '{"epochs": 5, "lr": 1e-3}') \g /dev/null
SELECT extract(epoch FROM clock_timestamp() - :'t0') AS seconds \gset
SELECT format('finetune  %s samples  sql %s s  %s samples/s  core steps %s s  %s samples/s  sql layer %s%%',
              samples, round(:seconds::numeric, 2), round(samples / :seconds),
              round(step_seconds::numeric, 2), round(samples / step_seconds),
              round((100 * (1 - step_seconds / :seconds))::numeric, 1))
  FROM (SELECT 5 * (SELECT count(*) FROM vqaprune.questions q JOIN vqaprune.datasets d USING (dataset_id)
                     WHERE d.name = 'bench_synth' AND q.split = 'train') AS samples,
               (metrics->>'step_seconds')::float8 AS step_seconds
          FROM vqaprune.models WHERE name = 'bench_tiny_lmh') m \gset
\echo :format
