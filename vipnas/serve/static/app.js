// The two pages as tabs (#video, #search), and the rescan button.
"use strict";

function showPage() {
  const page = location.hash === "#search" ? "search" : "video";
  document.getElementById("video-page").hidden = page !== "video";
  document.getElementById("search-page").hidden = page !== "search";
  document.getElementById("tab-video").classList.toggle("active", page === "video");
  document.getElementById("tab-search").classList.toggle("active", page === "search");
}

async function start() {
  showPage();
  window.addEventListener("hashchange", showPage);
  document.getElementById("refresh").addEventListener("click", async () => {
    showChoices(await jsonOf(await fetch("/api/refresh", {method: "POST"})));
    await loadSearches();
  });
  await Promise.all([initVideoPage(), initSearchPage()]);
  document.body.dataset.ready = "true";
}

start().catch((failure) => {
  document.getElementById("form-error").textContent = failure.message;
});
