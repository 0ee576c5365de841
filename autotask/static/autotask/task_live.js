/* A waiting or running task's page reads itself again every few seconds (status, progress,
   output...) until the task has finished; not while the tab is hidden. */
"use strict";
(function () {
    let timer = null;

    function every() {
        const marker = document.getElementById("autotask-live");
        return marker ? parseInt(marker.dataset.every, 10) || 2000 : null;
    }

    function schedule() {
        clearTimeout(timer);
        const wait = every();
        timer = wait && !document.hidden ? setTimeout(refresh, wait) : null;
    }

    async function refresh() {
        try {
            const response = await fetch(window.location.href, {credentials: "same-origin"});
            if (response.ok) {
                const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("content-main");
                const current = document.getElementById("content-main");
                if (fresh && current) current.replaceWith(fresh);
            }
        } finally {
            schedule();  // stops once the page no longer says the task is unfinished
        }
    }

    document.addEventListener("visibilitychange", () => (document.hidden ? clearTimeout(timer) : schedule()));
    schedule();
})();
