//! The test list of a `harness = false` test binary (one that runs its
//! scenarios one after another in the main thread, because the supervisor
//! reaps with `waitpid(-1)` and would take the children of tests in other
//! threads). It reads what libtest reads: a name filter, `--ignored` and
//! `--include-ignored`; a scenario that needs root is ignored unless asked
//! for, and then fails without root rather than passing.

/// The scenarios to run and what became of them.
pub struct Tests {
    filter: Option<String>,
    exact: bool,
    ignored_only: bool,
    include_ignored: bool,
    passed: usize,
    ignored: usize,
}

impl Tests {
    /// As the command line asks (the flags cargo and libtest take; others,
    /// such as `--test-threads`, change nothing here).
    pub fn from_args() -> Tests {
        let mut tests = Tests {
            filter: None,
            exact: false,
            ignored_only: false,
            include_ignored: false,
            passed: 0,
            ignored: 0,
        };
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--ignored" => tests.ignored_only = true,
                "--include-ignored" => tests.include_ignored = true,
                "--exact" => tests.exact = true,
                flag if flag.starts_with('-') => {}
                name => tests.filter = Some(name.to_string()),
            }
        }
        tests
    }

    fn selected(&self, name: &str) -> bool {
        match &self.filter {
            Some(filter) if self.exact => name == filter,
            Some(filter) => name.contains(filter.as_str()),
            None => true,
        }
    }

    /// Runs scenario `name`.
    pub fn run(&mut self, name: &str, scenario: impl FnOnce()) {
        if !self.selected(name) || self.ignored_only {
            return;
        }
        println!("test {name} ...");
        scenario();
        println!("test {name} ... ok");
        self.passed += 1;
    }

    /// Runs scenario `name`, which needs root, when ignored tests are asked
    /// for; it then fails unless it runs as root.
    pub fn run_as_root(&mut self, name: &str, scenario: impl FnOnce()) {
        if !self.selected(name) {
            return;
        }
        if !self.ignored_only && !self.include_ignored {
            println!("test {name} ... ignored, needs root");
            self.ignored += 1;
            return;
        }
        println!("test {name} ...");
        super::require_root();
        scenario();
        println!("test {name} ... ok");
        self.passed += 1;
    }

    /// Prints the summary line.
    pub fn finish(self) {
        println!(
            "test result: ok. {} passed; 0 failed; {} ignored",
            self.passed, self.ignored
        );
    }
}
