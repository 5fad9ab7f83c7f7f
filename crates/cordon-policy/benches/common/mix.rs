//! The benchmark's inputs (shared with `examples/mix.rs`).

pub const SHORT: &[&str] = &[
    "ls -la",
    "git status",
    "git diff --stat HEAD~1",
    "cat README.md",
    "rg -n 'fn main' crates",
    "cargo test -p cordon-policy",
    "rm -rf target",
    "grep -rn TODO src",
    "git push --force origin main",
    "bash -lc 'cd src && ls'",
    "find . -name '*.rs' -not -path './target/*'",
    "echo hello > out.txt",
    "npm install",
    "sed -n '1,20p' src/lib.rs",
    "sudo apt-get install jq",
    "python3 -m pytest -q tests/",
];

pub fn mix() -> Vec<String> {
    let long = "cat src/*.rs | grep -v '^ *//' | sed 's/foo/bar/g' | awk '{print $1}' | sort | uniq -c | sort -rn | head -20 && echo \"$(git rev-parse HEAD)\" > rev.txt; find . -name '*.tmp' | xargs grep -l TODO || timeout 5 env LANG=C ls -la \"$HOME\"/x";
    let mut heredoc = String::from("cat <<'EOF' > notes.md\n");
    while heredoc.len() < 4096 {
        heredoc.push_str("Some notes about the change, with `code` and $vars that stay literal.\n");
    }
    heredoc.push_str("EOF");
    let mut v = Vec::with_capacity(100);
    for i in 0..80 {
        v.push(SHORT[i % SHORT.len()].to_string());
    }
    for _ in 0..15 {
        v.push(long.to_string());
    }
    for _ in 0..5 {
        v.push(heredoc.clone());
    }
    v
}
