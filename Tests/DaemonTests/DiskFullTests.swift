import Foundation
import Testing

extension DaemonSuite {
/// A full outbox file system (a 4 MiB tmpfs in a private mount namespace): the worker's ENOSPC
/// is caught, no partial output stays visible, the input stays pending (not failed), one log line
/// is written, and the job completes by itself once space returns.
@Suite struct DiskFullTests {
    @Test(.enabled(if: segvolBinary != nil), .timeLimit(.minutes(2)))
    func fullDiskKeepsTheJobPendingAndResumesWhenSpaceReturns() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            print("DiskFullTests: skipped (needs root and unshare to mount a small tmpfs)")
            return
        }
        let site = DaemonSite()
        // 1 MiB of random voxels: the .nii.gz output cannot be smaller than about 1 MiB. No model
        // (model.dir names none): segmenting with the checkout's Models/default takes a minute in debug.
        try site.dropRawNIfTI("noisy.nii", shape: [128, 128, 64], random: true, into: site.root + "/staging")
        let small = site.root + "/small"
        let script = """
            #!/bin/bash
            mkdir -p \(small) && mount -t tmpfs -o size=4m tmpfs \(small) || { echo "mount-failed"; exit 0; }
            mkdir -p \(small)/site/inbox/thigh
            printf '[site]\\nroot = "\(small)/site"\\n[inbox]\\nquiet_file_s = 0.2\\nrescan_interval_s = 0.3\\n[worker]\\nbackoff_s = 0.2\\nbackoff_max_s = 0.3\\nmax_attempts = 2\\n[disk]\\nmin_free_percent = 0\\nmin_free_mb = 0\\n[log]\\ntarget = "stderr"\\n[model]\\ndir = "/nonexistent/segvol-test-model"\\n' > \(small)/segvol.toml
            cp \(site.root)/staging/noisy.nii \(small)/site/inbox/thigh/.noisy.nii && mv \(small)/site/inbox/thigh/.noisy.nii \(small)/site/inbox/thigh/noisy.nii
            avail=$(df --output=avail -B1 \(small) | tail -1)
            head -c $((avail - 400000)) /dev/zero > \(small)/filler
            \(segvolBinary!) serve --config \(small)/segvol.toml 2> \(site.root)/serve.log &
            pid=$!
            for i in $(seq 1 100); do grep -q 'no space for a job' \(site.root)/serve.log && break; sleep 0.1; done
            sleep 1.5   # several retries while the disk stays full
            echo "work=$(ls \(small)/site/work | wc -l) failed=$(ls \(small)/site/failed | wc -l) outbox=$(ls \(small)/site/outbox | wc -l)"
            echo "nospace-lines=$(grep -c 'no space for a job' \(site.root)/serve.log)"
            rm \(small)/filler
            for i in $(seq 1 100); do [ "$(ls \(small)/site/archive | wc -l)" = 1 ] && break; sleep 0.1; done
            echo "after-archive=$(ls \(small)/site/archive | wc -l) after-failed=$(ls \(small)/site/failed | wc -l) after-temps=$(find \(small)/site -name '.tmp-*' -o -name '*.tmp-*' | wc -l)"
            cmp \(site.root)/staging/noisy.nii \(small)/site/archive/*/drop/noisy.nii && echo "input-identical"
            kill -TERM $pid; wait $pid; echo "rc=$?"
            umount \(small)
            """
        try script.write(toFile: site.root + "/full.sh", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["100", "unshare", "--mount", "--propagation", "private", "bash", site.root + "/full.sh"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if text.contains("mount-failed") || text.isEmpty {
            print("DiskFullTests: skipped: cannot mount a tmpfs here")
            return
        }
        #expect(text.contains("work=1 failed=0 outbox=0"), "\(text)")
        #expect(text.contains("nospace-lines=1"), "\(text)")
        #expect(text.contains("after-archive=1 after-failed=0 after-temps=0"), "\(text)")
        #expect(text.contains("input-identical") && text.contains("rc=0"), "\(text)")
    }
}
}
