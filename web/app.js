// The site's one script (served as text/javascript): it shows the reader's
// clock and turns status-codes.json into the table on a_web_page.html.
"use strict";

function showClock() {
  const el = document.getElementById("client-time");
  if (el) {
    el.textContent = new Date().toLocaleTimeString();
  }
}

async function fillCodes() {
  const body = document.querySelector("#codes tbody");
  if (!body) {
    return;
  }
  const response = await fetch("status-codes.json");
  if (!response.ok) {
    body.innerHTML = "<tr><td colspan=3>could not load status-codes.json</td></tr>";
    return;
  }
  const codes = await response.json();
  body.replaceChildren(
    ...codes.map((c) => {
      const row = document.createElement("tr");
      const cells = [String(c.code), c.reason, c.when];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 0) {
          td.className = "code c" + String(c.code)[0];
        }
        row.appendChild(td);
      });
      return row;
    })
  );
  const count = document.getElementById("request-count");
  if (count) {
    count.textContent = String(performance.getEntriesByType("resource").length + 1);
  }
}

showClock();
setInterval(showClock, 1000);
fillCodes();
