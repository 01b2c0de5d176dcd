// report.html rendered by headless Chromium (Debian's /usr/bin/chromium, installed by scripts/bootstrap):
// the embedded script must draw every chart (it sets data-rendered="N" on each container), and a
// screenshot is kept in the build tree as a test artifact.
#include <catch2/catch.hpp>

#include <filesystem>
#include <iostream>
#include <regex>

#include "tests/support/process.hpp"
#include "tests/system/reconcile_fixture.hpp"

using namespace fleetsim;
using namespace fleetsim::test;
using namespace fleetsim::test::reconcile_fixture;

namespace {

const char* chromium = "/usr/bin/chromium";

// data-rendered of the element with this id in the dumped DOM; -1 when absent.
int rendered(const std::string& dom, const std::string& id) {
  std::smatch m;
  std::regex tag("<div[^>]*\\bid=\"" + id + "\"[^>]*>");
  if (!std::regex_search(dom, m, tag)) return -1;
  std::smatch n;
  auto text = m.str();
  if (!std::regex_search(text, n, std::regex("data-rendered=\"([0-9]+)\""))) return -1;
  return std::stoi(n[1]);
}

std::vector<std::string> headless(const std::string& profile) {
  return {chromium, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
          "--user-data-dir=" + profile, "--virtual-time-budget=5000"};
}

}  // namespace

TEST_CASE("report.html draws its charts in headless Chromium", "[report-html]") {
  if (!std::filesystem::exists(chromium)) {
    WARN("SKIPPED: " << chromium << " is absent; scripts/bootstrap installs Debian's chromium package");
    return;
  }
  // The run directory lives in the build tree so that the reports and the screenshot stay as artifacts.
  std::filesystem::path dir = std::filesystem::path(FLEETSIM_ARTIFACT_DIR) / "report_html";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  write_run(dir.string(), "{recall: 0.5}");
  std::ofstream(dir / "metrics.jsonl") << metrics();
  std::ofstream(dir / "violations.jsonl") << event("r-01", t0 + 65 * minute) + "\n" +
                                                 event("r-01", t0 + 90 * minute, "alarm-cleared") + "\n" +
                                                 event("r-01", t0 + 66 * minute, "in-alarm", "HIGH") + "\n" +
                                                 event("r-03", t0 + 30 * minute) + "\n" +
                                                 event("r-03", t0 + 40 * minute, "alarm-cleared") + "\n";
  auto r = run_fleetsim({"reconcile", dir.string()});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto html = (dir / "report.html").string();
  auto page = read_text(html);
  // Self-contained: nothing fetched from the network.
  CHECK(page.find("http://") == page.find("http://www.w3.org/2000/svg"));
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find("<script src") == std::string::npos);

  TempDir profile;
  auto args = headless(profile.path());
  args.push_back("--dump-dom");
  args.push_back("file://" + html);
  auto dom = run_process(args, std::chrono::seconds(25));
  INFO(dom.err);
  REQUIRE_FALSE(dom.timed_out);
  REQUIRE(dom.exit_code == 0);
  CHECK(dom.out.find("data-charts=\"done\"") != std::string::npos);  // the script ran to its end
  CHECK(rendered(dom.out, "chart-kind") == 1);                          // one kind: message-flood
  CHECK(rendered(dom.out, "chart-confidence") == 3);                    // LOW, MEDIUM, HIGH
  CHECK(rendered(dom.out, "chart-ttd") >= 1);
  CHECK(rendered(dom.out, "timelines") == 3);                           // r-01, r-02 (windows), r-03 (false alarm)
  CHECK(dom.out.find("class=\"metric\"") != std::string::npos);         // metric values drawn
  CHECK(dom.out.find("class=\"alarm\"") != std::string::npos);

  auto png = dir / "report.png";
  args = headless(profile.path());
  args.push_back("--hide-scrollbars");
  args.push_back("--window-size=1280,2000");
  args.push_back("--screenshot=" + png.string());
  args.push_back("file://" + html);
  auto shot = run_process(args, std::chrono::seconds(25));
  INFO(shot.err);
  REQUIRE_FALSE(shot.timed_out);
  REQUIRE(std::filesystem::exists(png));
  // A blank 1280×2000 PNG compresses to a few KiB; the charts and tables make it far larger.
  CHECK(std::filesystem::file_size(png) > 40'000);
  std::cout << "report.html screenshot: " << png.string() << "\n";
}
